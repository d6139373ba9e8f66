// Where Bootstrap Italia loads its fonts from (it reads this global when its bundle starts).
window.__PUBLIC_PATH__ = '/static/vendor/bootstrap-italia/fonts';
