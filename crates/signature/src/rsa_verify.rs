//! RSASSA-PKCS1-v1_5 verification (RFC 8017 §8.2.2) with crypto-bigint's fixed-width
//! Montgomery arithmetic.
//!
//! The `rsa` crate (0.9) raises the signature to the public exponent with num-bigint-dig:
//! about 5 M instructions for one 2048-bit verification, some 40 % of the service's own CPU
//! in the intake benchmark (docs/benchmarks.md). The same operation on a fixed-width integer
//! is a handful of Montgomery products. Keys this module does not take (wider than 4096
//! bits, an even modulus, an exponent wider than 64 bits) go to the `rsa` crate as before,
//! and so does RSA-PSS.
//!
//! Only public values are handled here (key, signature, digest), so nothing needs to run in
//! constant time.
//!
//! The Montgomery parameters of a modulus (R² mod n by a bit-serial division) cost more than
//! the exponentiation with e = 65537 itself, and the moduli repeat from message to message:
//! the provider's key on every envelope, a CA's key under every signer's certificate. The
//! last few are kept.

use std::collections::VecDeque;
use std::sync::Mutex;

use crypto_bigint::modular::runtime_mod::{DynResidue, DynResidueParams};
use crypto_bigint::{U64, Uint};

/// How many moduli of each width keep their parameters: more than the providers and CAs an
/// intake run meets, few enough that a linear search costs nothing beside one verification.
const KEPT: usize = 32;

/// The parameters of the moduli seen last, newest first.
struct Kept<const L: usize>(Mutex<VecDeque<(Uint<L>, DynResidueParams<L>)>>);

impl<const L: usize> Kept<L> {
    const fn new() -> Self {
        Kept(Mutex::new(VecDeque::new()))
    }

    fn params(&self, modulus: &Uint<L>) -> DynResidueParams<L> {
        // A poisoned lock only means another thread panicked mid-update of a cache: compute.
        if let Ok(kept) = self.0.lock()
            && let Some((_, p)) = kept.iter().find(|(m, _)| m == modulus)
        {
            return *p;
        }
        // The caller checked that the modulus is odd, which `DynResidueParams::new` needs.
        let params = DynResidueParams::new(modulus);
        if let Ok(mut kept) = self.0.lock() {
            if kept.len() == KEPT {
                kept.pop_back();
            }
            kept.push_front((*modulus, params));
        }
        params
    }
}

static KEPT_2048: Kept<{ 2048 / 64 }> = Kept::new();
static KEPT_3072: Kept<{ 3072 / 64 }> = Kept::new();
static KEPT_4096: Kept<{ 4096 / 64 }> = Kept::new();

/// Whether `signature` is the PKCS#1 v1.5 signature of the digest `hashed` (with its
/// DigestInfo `prefix`) under the key (`n`, `e`), big-endian. `None`: a key this module does
/// not take; the caller verifies it otherwise.
pub(crate) fn pkcs1v15(n: &[u8], e: &[u8], prefix: &[u8], hashed: &[u8], signature: &[u8]) -> Option<bool> {
    let n = strip_zeros(n);
    let e = strip_zeros(e);
    let k = n.len();
    if k == 0 || n[k - 1] & 1 == 0 || e.is_empty() || e.len() > 8 {
        return None;
    }
    // RSAVP1 needs the signature as long as the modulus (RFC 8017 §8.2.2 step 1).
    if signature.len() != k {
        return Some(false);
    }
    let em = match k {
        ..=256 => public_op(&KEPT_2048, n, e, signature),
        257..=384 => public_op(&KEPT_3072, n, e, signature),
        385..=512 => public_op(&KEPT_4096, n, e, signature),
        _ => return None,
    };
    Some(em.is_some_and(|em| em == encoded(k, prefix, hashed)))
}

/// `s^e mod n` as `n.len()` bytes, big-endian; `None` when `s` is not below `n` (step 2.b
/// of RFC 8017 §8.2.2: an invalid signature). `L` limbs of 64 bits hold `n`.
fn public_op<const L: usize>(kept: &Kept<L>, n: &[u8], e: &[u8], s: &[u8]) -> Option<Vec<u8>> {
    let width = Uint::<L>::BYTES;
    let modulus = Uint::<L>::from_be_slice(&left_pad(n, width));
    let base = Uint::<L>::from_be_slice(&left_pad(s, width));
    if base >= modulus {
        return None;
    }
    let exponent = U64::from_be_slice(&left_pad(e, U64::BYTES));
    let params = kept.params(&modulus);
    let m = DynResidue::new(&base, params).pow_bounded_exp(&exponent, exponent.bits()).retrieve();
    let mut out = Vec::with_capacity(width);
    for word in m.as_words().iter().rev() {
        out.extend_from_slice(&word.to_be_bytes());
    }
    Some(out.split_off(width - n.len()))
}

/// EM = 0x00 || 0x01 || PS (0xff…) || 0x00 || DigestInfo prefix || digest, `k` bytes, or
/// nothing that any EM equals when `k` is too short for it (RFC 8017 §9.2 step 3).
fn encoded(k: usize, prefix: &[u8], hashed: &[u8]) -> Vec<u8> {
    let t_len = prefix.len() + hashed.len();
    if k < t_len + 11 {
        return Vec::new();
    }
    let mut em = Vec::with_capacity(k);
    em.extend_from_slice(&[0x00, 0x01]);
    em.resize(k - t_len - 1, 0xff);
    em.push(0x00);
    em.extend_from_slice(prefix);
    em.extend_from_slice(hashed);
    em
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[first..]
}

fn left_pad(b: &[u8], width: usize) -> Vec<u8> {
    let mut out = vec![0u8; width - b.len()];
    out.extend_from_slice(b);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1v15::SigningKey;
    use rsa::signature::{SignatureEncoding, Signer};
    use rsa::traits::PublicKeyParts;
    use sha2::Digest as _;

    /// Fixed keys from the test PKI would do as well; generating keeps the sizes explicit.
    fn key(bits: usize) -> rsa::RsaPrivateKey {
        let mut rng = rand_core::OsRng;
        rsa::RsaPrivateKey::new(&mut rng, bits).unwrap()
    }

    #[test]
    fn agrees_with_the_rsa_crate_on_good_and_bad_signatures() {
        let prefix = rsa::Pkcs1v15Sign::new::<sha2::Sha256>().prefix;
        for bits in [2048, 3072] {
            let private = key(bits);
            let public = private.to_public_key();
            let (n, e) = (public.n().to_bytes_be(), public.e().to_bytes_be());
            let message = b"Segnatura di protocollo";
            let signature = SigningKey::<sha2::Sha256>::new(private).sign(message).to_vec();
            let hashed = sha2::Sha256::digest(message);
            assert_eq!(pkcs1v15(&n, &e, &prefix, &hashed, &signature), Some(true), "{bits} bits");
            // Another digest, a flipped bit, a truncated and a too long signature, the
            // modulus itself as signature (not below n), a wrong prefix.
            let other = sha2::Sha256::digest(b"altro");
            assert_eq!(pkcs1v15(&n, &e, &prefix, &other, &signature), Some(false));
            let mut flipped = signature.clone();
            flipped[40] ^= 1;
            assert_eq!(pkcs1v15(&n, &e, &prefix, &hashed, &flipped), Some(false));
            assert_eq!(pkcs1v15(&n, &e, &prefix, &hashed, &signature[1..]), Some(false));
            let mut long = vec![0];
            long.extend_from_slice(&signature);
            assert_eq!(pkcs1v15(&n, &e, &prefix, &hashed, &long), Some(false));
            assert_eq!(pkcs1v15(&n, &e, &prefix, &hashed, &n), Some(false));
            let sha1_prefix = rsa::Pkcs1v15Sign::new::<sha1::Sha1>().prefix;
            assert_eq!(pkcs1v15(&n, &e, &sha1_prefix, &hashed, &signature), Some(false));
            // The rsa crate agrees on each of them.
            let scheme = || rsa::Pkcs1v15Sign::new::<sha2::Sha256>();
            assert!(public.verify(scheme(), &hashed, &signature).is_ok());
            assert!(public.verify(scheme(), &hashed, &flipped).is_err());
            assert!(public.verify(scheme(), &other, &signature).is_err());
        }
    }

    /// Past the bound the oldest modulus goes, and whatever is kept, a lookup gives the
    /// parameters of the modulus asked for, never a neighbour's.
    #[test]
    fn kept_parameters_are_those_of_their_modulus() {
        let kept = Kept::<4>::new();
        let moduli: Vec<Uint<4>> = (0..KEPT as u64 + 5).map(|i| Uint::<4>::from_u64(1_000_003 + 2 * i)).collect();
        for m in moduli.iter().chain(moduli.iter().rev()).chain(moduli.iter()) {
            assert_eq!(kept.params(m), DynResidueParams::new(m));
        }
        let held = kept.0.lock().unwrap();
        assert_eq!(held.len(), KEPT);
        assert_eq!(held.front().map(|(m, _)| *m), moduli.last().copied(), "newest first");
    }

    #[test]
    fn keys_it_does_not_take_are_left_to_the_caller() {
        let prefix = rsa::Pkcs1v15Sign::new::<sha2::Sha256>().prefix;
        let hashed = [0u8; 32];
        // even modulus, exponent wider than 64 bits, modulus wider than 4096 bits, nothing
        assert_eq!(pkcs1v15(&[0xc0; 256], &[1, 0, 1], &prefix, &hashed, &[1; 256]), None);
        assert_eq!(pkcs1v15(&[0xc1; 256], &[1; 9], &prefix, &hashed, &[1; 256]), None);
        assert_eq!(pkcs1v15(&[0xc1; 513], &[1, 0, 1], &prefix, &hashed, &[1; 513]), None);
        assert_eq!(pkcs1v15(&[], &[1, 0, 1], &prefix, &hashed, &[]), None);
        // leading zero bytes of the key are not its length
        assert_eq!(pkcs1v15(&[0, 0, 0xc1], &[3], &prefix, &hashed, &[1, 2]), Some(false));
    }
}
