// Behaviour of the dashboard's own pages (no inline script: the CSP allows scripts from
// this origin only). A button with `data-stampa` opens the browser's print dialog.
document.addEventListener('click', (e) => {
  const b = e.target.closest('[data-stampa]');
  if (b) { e.preventDefault(); window.print(); }
});
