"""In-process pyHanko validation time per corpus PDF (companion of benches/verify.rs).

    /work/venv-sig/bin/python crates/signature/benches/pyhanko_inprocess.py ../shared/corpus/signatures

Validates every embedded signature with pyHanko's API (no trust roots, no revocation
fetching, non-strict reader as for hybrid-xref files), best of 5 runs, after one warm-up run
so that imports and lazy initialisation are excluded."""
import asyncio, glob, os, sys, time
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

def validate(path):
    with open(path, 'rb') as f:
        r = PdfFileReader(f, strict=False)
        out = []
        for sig in r.embedded_signatures:
            vc = ValidationContext(allow_fetching=False, revocation_mode='soft-fail')
            try:
                st = asyncio.run(async_validate_pdf_signature(sig, signer_validation_context=vc))
                out.append(st.summary() if hasattr(st, 'summary') else str(st.bottom_line))
            except Exception as e:
                out.append(type(e).__name__)
        return out

corpus = sys.argv[1] if len(sys.argv) > 1 else '../shared/corpus/signatures'
files = sorted(glob.glob(os.path.join(corpus, 'italian/*.pdf')) + glob.glob(os.path.join(corpus, 'pades/*.pdf')) + glob.glob(os.path.join(corpus, 'pades-attacks/*.pdf')))
total = 0.0
print('| file | pyHanko in-process (best of 5) | result |')
print('|---|---|---|')
for p in files:
    try:
        res = validate(p)
    except Exception as e:
        res = ['read error: ' + type(e).__name__]
    best = None
    for _ in range(5):
        t = time.perf_counter()
        try:
            validate(p)
        except Exception:
            pass
        d = time.perf_counter() - t
        best = d if best is None or d < best else best
    total += best
    print(f'| {os.path.basename(p)} | {best*1000:.2f} ms | {"; ".join(res)[:80].replace("|", "/")} |')
print(f'\n{len(files)} PDFs: pyHanko in-process mean {total/len(files)*1000:.2f} ms/file')
