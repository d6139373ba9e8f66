//! Digests, public keys and signature primitives (RSA PKCS#1 v1.5, RSASSA-PSS, ECDSA
//! P-256/P-384) behind one small interface keyed by AlgorithmIdentifiers.

use serde::Serialize;
use sha2::Digest as _;

use crate::Error;
use crate::ber::{self, Tlv};
use crate::oids;

/// A digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING-KEBAB-CASE")]
pub enum DigestAlg {
    Md5,
    Sha1,
    Sha224,
    Sha256,
    Sha384,
    Sha512,
}

impl DigestAlg {
    pub fn from_oid(oid: &Tlv<'_>) -> Option<DigestAlg> {
        [
            (oids::MD5, DigestAlg::Md5),
            (oids::SHA1, DigestAlg::Sha1),
            (oids::SHA224, DigestAlg::Sha224),
            (oids::SHA256, DigestAlg::Sha256),
            (oids::SHA384, DigestAlg::Sha384),
            (oids::SHA512, DigestAlg::Sha512),
        ]
        .into_iter()
        .find(|(o, _)| oids::is(oid, o))
        .map(|(_, d)| d)
    }

    /// From an AlgorithmIdentifier TLV.
    pub fn from_alg_id(alg: &Tlv<'_>) -> Result<DigestAlg, Error> {
        let oid = *alg.children()?.first().ok_or_else(|| Error::Asn1("empty AlgorithmIdentifier".into()))?;
        DigestAlg::from_oid(&oid).ok_or_else(|| Error::Unsupported(format!("digest algorithm {}", oids::dotted(&oid))))
    }

    pub fn hash(self, data: &[u8]) -> Vec<u8> {
        let mut h = Hasher::new(self);
        h.update(data);
        h.finish()
    }

    /// MD5 and SHA-1 are broken for signatures (collisions), so they fail the crypto
    /// constraints of document signatures (ETSI TS 119 312).
    pub fn is_weak(self) -> bool {
        matches!(self, DigestAlg::Md5 | DigestAlg::Sha1)
    }

    pub fn name(self) -> &'static str {
        match self {
            DigestAlg::Md5 => "MD5",
            DigestAlg::Sha1 => "SHA-1",
            DigestAlg::Sha224 => "SHA-224",
            DigestAlg::Sha256 => "SHA-256",
            DigestAlg::Sha384 => "SHA-384",
            DigestAlg::Sha512 => "SHA-512",
        }
    }
}

/// Incremental hashing, so large contents (PDF byte ranges) need not be concatenated.
pub enum Hasher {
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    Sha224(sha2::Sha224),
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

impl Hasher {
    pub fn new(alg: DigestAlg) -> Hasher {
        match alg {
            DigestAlg::Md5 => Hasher::Md5(md5::Md5::new()),
            DigestAlg::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            DigestAlg::Sha224 => Hasher::Sha224(sha2::Sha224::new()),
            DigestAlg::Sha256 => Hasher::Sha256(sha2::Sha256::new()),
            DigestAlg::Sha384 => Hasher::Sha384(sha2::Sha384::new()),
            DigestAlg::Sha512 => Hasher::Sha512(sha2::Sha512::new()),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Md5(h) => h.update(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha224(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha384(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    pub fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Md5(h) => h.finalize().to_vec(),
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha224(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha384(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
        }
    }
}

/// A signature algorithm as named by an AlgorithmIdentifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigAlg {
    /// PKCS#1 v1.5. `None` for bare `rsaEncryption` (digest taken from the context).
    RsaPkcs1(Option<DigestAlg>),
    RsaPss { digest: DigestAlg, salt_len: usize },
    Ecdsa(Option<DigestAlg>),
}

impl SigAlg {
    pub fn from_alg_id(alg: &Tlv<'_>) -> Result<SigAlg, Error> {
        let kids = alg.children()?;
        let oid = kids.first().ok_or_else(|| Error::Asn1("empty AlgorithmIdentifier".into()))?;
        let table = [
            (oids::RSA_ENCRYPTION, SigAlg::RsaPkcs1(None)),
            (oids::MD5_WITH_RSA, SigAlg::RsaPkcs1(Some(DigestAlg::Md5))),
            (oids::SHA1_WITH_RSA, SigAlg::RsaPkcs1(Some(DigestAlg::Sha1))),
            (oids::SHA224_WITH_RSA, SigAlg::RsaPkcs1(Some(DigestAlg::Sha224))),
            (oids::SHA256_WITH_RSA, SigAlg::RsaPkcs1(Some(DigestAlg::Sha256))),
            (oids::SHA384_WITH_RSA, SigAlg::RsaPkcs1(Some(DigestAlg::Sha384))),
            (oids::SHA512_WITH_RSA, SigAlg::RsaPkcs1(Some(DigestAlg::Sha512))),
            (oids::EC_PUBLIC_KEY, SigAlg::Ecdsa(None)),
            (oids::ECDSA_SHA1, SigAlg::Ecdsa(Some(DigestAlg::Sha1))),
            (oids::ECDSA_SHA224, SigAlg::Ecdsa(Some(DigestAlg::Sha224))),
            (oids::ECDSA_SHA256, SigAlg::Ecdsa(Some(DigestAlg::Sha256))),
            (oids::ECDSA_SHA384, SigAlg::Ecdsa(Some(DigestAlg::Sha384))),
            (oids::ECDSA_SHA512, SigAlg::Ecdsa(Some(DigestAlg::Sha512))),
        ];
        if let Some((_, alg)) = table.iter().find(|(o, _)| oids::is(oid, o)) {
            return Ok(*alg);
        }
        if oids::is(oid, &oids::RSASSA_PSS) {
            return parse_pss(kids.get(1));
        }
        Err(Error::Unsupported(format!("signature algorithm {}", oids::dotted(oid))))
    }

    /// The digest this algorithm fixes, if any.
    pub fn digest(&self) -> Option<DigestAlg> {
        match self {
            SigAlg::RsaPkcs1(d) | SigAlg::Ecdsa(d) => *d,
            SigAlg::RsaPss { digest, .. } => Some(*digest),
        }
    }
}

/// RSASSA-PSS-params (RFC 4055): hash [0] default SHA-1, MGF [1] default MGF1-SHA-1,
/// salt [2] default 20, trailer [3] default 1.
fn parse_pss(params: Option<&Tlv<'_>>) -> Result<SigAlg, Error> {
    let mut digest = DigestAlg::Sha1;
    let mut mgf_digest = DigestAlg::Sha1;
    let mut salt_len = 20usize;
    if let Some(p) = params.filter(|p| p.tag == ber::SEQUENCE) {
        for field in p.children()? {
            let inner = field.children()?;
            let inner = inner.first().ok_or_else(|| Error::Asn1("empty PSS parameter".into()))?;
            match field.tag {
                0xa0 => digest = DigestAlg::from_alg_id(inner)?,
                0xa1 => {
                    let mgf = inner.children()?;
                    let is_mgf1 = mgf.first().is_some_and(|o| oids::is(o, &oids::MGF1));
                    let hash = mgf.get(1).ok_or_else(|| Error::Asn1("MGF without hash".into()))?;
                    if !is_mgf1 {
                        return Err(Error::Unsupported("PSS mask generation function".into()));
                    }
                    mgf_digest = DigestAlg::from_alg_id(hash)?;
                }
                0xa2 => {
                    salt_len = usize::try_from(inner.small_uint()?).map_err(|_| Error::Asn1("PSS salt".into()))?
                }
                0xa3 => {
                    if inner.small_uint()? != 1 {
                        return Err(Error::Unsupported("PSS trailer field".into()));
                    }
                }
                _ => return Err(Error::Asn1("unknown PSS parameter".into())),
            }
        }
    }
    if mgf_digest != digest {
        // The rsa crate ties MGF1's hash to the message hash; such signatures are unheard of.
        return Err(Error::Unsupported("PSS with an MGF1 hash different from the message hash".into()));
    }
    Ok(SigAlg::RsaPss { digest, salt_len })
}

/// A subject public key.
#[derive(Debug, Clone)]
pub enum PublicKey {
    Rsa(Box<rsa::RsaPublicKey>),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
}

impl PublicKey {
    /// From a SubjectPublicKeyInfo TLV.
    pub fn from_spki(spki: &Tlv<'_>) -> Result<PublicKey, Error> {
        let kids = spki.children()?;
        let (Some(alg), Some(bits)) = (kids.first(), kids.get(1)) else {
            return Err(Error::Asn1("SubjectPublicKeyInfo".into()));
        };
        let alg_kids = alg.children()?;
        let oid = alg_kids.first().ok_or_else(|| Error::Asn1("SPKI algorithm".into()))?;
        let key = bits.bit_string_bytes()?;
        if oids::is(oid, &oids::RSA_ENCRYPTION) || oids::is(oid, &oids::RSASSA_PSS) {
            let seq = ber::read_all(key)?.children()?;
            let (Some(n), Some(e)) = (seq.first(), seq.get(1)) else {
                return Err(Error::Asn1("RSAPublicKey".into()));
            };
            let n = rsa::BigUint::from_bytes_be(n.content);
            let e = rsa::BigUint::from_bytes_be(e.content);
            let pk = rsa::RsaPublicKey::new_with_max_size(n, e, 16384)
                .map_err(|e| Error::Certificate(format!("RSA key: {e}")))?;
            return Ok(PublicKey::Rsa(Box::new(pk)));
        }
        if oids::is(oid, &oids::EC_PUBLIC_KEY) {
            let curve = alg_kids.get(1).ok_or_else(|| Error::Asn1("EC curve".into()))?;
            if oids::is(curve, &oids::P256) {
                return p256::ecdsa::VerifyingKey::from_sec1_bytes(key)
                    .map(PublicKey::P256)
                    .map_err(|_| Error::Certificate("bad P-256 point".into()));
            }
            if oids::is(curve, &oids::P384) {
                return p384::ecdsa::VerifyingKey::from_sec1_bytes(key)
                    .map(PublicKey::P384)
                    .map_err(|_| Error::Certificate("bad P-384 point".into()));
            }
            return Err(Error::Unsupported(format!("EC curve {}", oids::dotted(curve))));
        }
        Err(Error::Unsupported(format!("public key algorithm {}", oids::dotted(oid))))
    }

    /// Whether a signature algorithm can belong to this key type at all.
    pub fn accepts(&self, alg: SigAlg) -> bool {
        matches!(
            (self, alg),
            (PublicKey::Rsa(_), SigAlg::RsaPkcs1(_) | SigAlg::RsaPss { .. })
                | (PublicKey::P256(_) | PublicKey::P384(_), SigAlg::Ecdsa(_))
        )
    }

    /// RSA modulus size in bits (for the crypto constraints); `None` for EC keys.
    pub fn rsa_bits(&self) -> Option<usize> {
        use rsa::traits::PublicKeyParts;
        match self {
            PublicKey::Rsa(k) => Some(k.n().bits()),
            _ => None,
        }
    }

    /// Verifies `signature` over a message whose `digest`-hash is `hashed`.
    pub fn verify_prehash(&self, alg: SigAlg, digest: DigestAlg, hashed: &[u8], signature: &[u8]) -> Result<(), String> {
        match (self, alg) {
            (PublicKey::Rsa(k), SigAlg::RsaPkcs1(_)) => {
                let scheme = match digest {
                    DigestAlg::Md5 => rsa::Pkcs1v15Sign::new::<md5::Md5>(),
                    DigestAlg::Sha1 => rsa::Pkcs1v15Sign::new::<sha1::Sha1>(),
                    DigestAlg::Sha224 => rsa::Pkcs1v15Sign::new::<sha2::Sha224>(),
                    DigestAlg::Sha256 => rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
                    DigestAlg::Sha384 => rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
                    DigestAlg::Sha512 => rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
                };
                verify_pkcs1v15(k, &scheme, hashed, signature).map_err(|e| format!("RSA PKCS#1 v1.5: {e}"))
            }
            (PublicKey::Rsa(k), SigAlg::RsaPss { digest: d, salt_len }) => {
                if d != digest {
                    return Err("PSS hash differs from the digest algorithm".into());
                }
                let scheme = match d {
                    DigestAlg::Sha1 => rsa::Pss::new_with_salt::<sha1::Sha1>(salt_len),
                    DigestAlg::Sha224 => rsa::Pss::new_with_salt::<sha2::Sha224>(salt_len),
                    DigestAlg::Sha256 => rsa::Pss::new_with_salt::<sha2::Sha256>(salt_len),
                    DigestAlg::Sha384 => rsa::Pss::new_with_salt::<sha2::Sha384>(salt_len),
                    DigestAlg::Sha512 => rsa::Pss::new_with_salt::<sha2::Sha512>(salt_len),
                    DigestAlg::Md5 => return Err("PSS with MD5".into()),
                };
                k.verify(scheme, hashed, signature).map_err(|e| format!("RSA-PSS: {e}"))
            }
            (PublicKey::P256(k), SigAlg::Ecdsa(_)) => {
                use p256::ecdsa::signature::hazmat::PrehashVerifier;
                let sig = p256::ecdsa::Signature::from_der(signature).map_err(|e| format!("ECDSA signature: {e}"))?;
                k.verify_prehash(hashed, &sig).map_err(|e| format!("ECDSA P-256: {e}"))
            }
            (PublicKey::P384(k), SigAlg::Ecdsa(_)) => {
                use p384::ecdsa::signature::hazmat::PrehashVerifier;
                let sig = p384::ecdsa::Signature::from_der(signature).map_err(|e| format!("ECDSA signature: {e}"))?;
                k.verify_prehash(hashed, &sig).map_err(|e| format!("ECDSA P-384: {e}"))
            }
            _ => Err("signature algorithm does not match the key type".into()),
        }
    }
}

/// RSASSA-PKCS1-v1_5 verification (RFC 8017 §8.2.2), the checks and errors of
/// `rsa::Pkcs1v15Sign::verify` in the same order, with a faster public-key operation (see
/// [`rsa_public_op`]). Nothing here is secret, so nothing needs to be constant-time.
fn verify_pkcs1v15(
    key: &rsa::RsaPublicKey,
    scheme: &rsa::Pkcs1v15Sign,
    hashed: &[u8],
    signature: &[u8],
) -> Result<(), rsa::Error> {
    use rsa::traits::PublicKeyParts;
    if scheme.hash_len.is_some_and(|len| hashed.len() != len) {
        return Err(rsa::Error::InputNotHashed);
    }
    let k = key.size();
    let s = rsa::BigUint::from_bytes_be(signature);
    if s >= *key.n() || signature.len() != k {
        return Err(rsa::Error::Verification);
    }
    let m = rsa_public_op(&s, key.e(), key.n()).to_bytes_be();
    if m.len() > k {
        return Err(rsa::Error::InvalidPadLen);
    }
    // EM = 0x00 || 0x01 || PS (0xff, at least 8) || 0x00 || T, T = DigestInfo prefix || hash
    let t_len = scheme.prefix.len() + hashed.len();
    if k < t_len + 11 {
        return Err(rsa::Error::Verification);
    }
    let mut expected = vec![0xff; k];
    expected[0] = 0;
    expected[1] = 1;
    expected[k - t_len - 1] = 0;
    expected[k - t_len..k - hashed.len()].copy_from_slice(&scheme.prefix);
    expected[k - hashed.len()..].copy_from_slice(hashed);
    // `m` is EM without its leading zero bytes.
    let (pad, tail) = expected.split_at(k - m.len());
    if pad.iter().all(|&b| b == 0) && tail == m.as_slice() { Ok(()) } else { Err(rsa::Error::Verification) }
}

/// RSA's public operation `s^e mod n`: left-to-right square-and-multiply with Montgomery
/// products on 64-bit limbs.
///
/// num-bigint-dig's `modpow`, which the rsa crate calls, runs a fixed 4-bit window over a
/// whole 64-bit word of exponent: about 90 Montgomery products for e = 65537 where
/// square-and-multiply needs 17 (and its division, used by a plain ladder, allocates at
/// every quotient digit). It was a tenth of the intake's CPU (two RSA signatures per
/// message). Signature, exponent and modulus are public, so variable time leaks nothing.
fn rsa_public_op(s: &rsa::BigUint, e: &rsa::BigUint, n: &rsa::BigUint) -> rsa::BigUint {
    let n_limbs = limbs(n, 0);
    let k = n_limbs.len();
    // Montgomery needs an odd modulus (every RSA modulus is); anything else takes the
    // general path.
    if n_limbs.first().is_none_or(|l| l & 1 == 0) {
        return s.modpow(e, n);
    }
    let mut inv: u64 = 1;
    for _ in 0..6 {
        inv = inv.wrapping_mul(2u64.wrapping_sub(n_limbs[0].wrapping_mul(inv)));
    }
    let n0inv = inv.wrapping_neg();
    // s in Montgomery form: s·R mod n, R = 2^(64k).
    let s_mont = limbs(&((s << (64 * k)) % n), k);
    let mut acc: Option<Vec<u64>> = None;
    let mut scratch = vec![0u64; k + 2];
    for byte in e.to_bytes_be() {
        for bit in (0..8).rev() {
            let set = byte >> bit & 1 == 1;
            acc = match acc {
                None if set => Some(s_mont.clone()),
                None => None,
                Some(a) => {
                    let sq = mont_mul(&a, &a, &n_limbs, n0inv, &mut scratch);
                    Some(if set { mont_mul(&sq, &s_mont, &n_limbs, n0inv, &mut scratch) } else { sq })
                }
            };
        }
    }
    let Some(acc) = acc else { return rsa::BigUint::from(1u32) % n };
    // Out of Montgomery form: acc·1·R⁻¹.
    let mut one = vec![0u64; k];
    one[0] = 1;
    let out = mont_mul(&acc, &one, &n_limbs, n0inv, &mut scratch);
    let bytes: Vec<u8> = out.iter().flat_map(|l| l.to_le_bytes()).collect();
    rsa::BigUint::from_bytes_le(&bytes)
}

/// Little-endian 64-bit limbs of `v`, at least `len` of them.
fn limbs(v: &rsa::BigUint, len: usize) -> Vec<u64> {
    let bytes = v.to_bytes_le();
    let mut out: Vec<u64> = bytes
        .chunks(8)
        .map(|c| {
            let mut b = [0u8; 8];
            b[..c.len()].copy_from_slice(c);
            u64::from_le_bytes(b)
        })
        .collect();
    while out.len() > 1 && out.last() == Some(&0) {
        out.pop();
    }
    if out.len() < len {
        out.resize(len, 0);
    }
    out
}

/// a·b·R⁻¹ mod n (CIOS Montgomery product), for a, b < n; the result is < n.
fn mont_mul(a: &[u64], b: &[u64], n: &[u64], n0inv: u64, t: &mut [u64]) -> Vec<u64> {
    let k = n.len();
    t.fill(0);
    for &bi in b {
        let mut c: u64 = 0;
        for j in 0..k {
            let x = u128::from(t[j]) + u128::from(a[j]) * u128::from(bi) + u128::from(c);
            t[j] = x as u64;
            c = (x >> 64) as u64;
        }
        let x = u128::from(t[k]) + u128::from(c);
        t[k] = x as u64;
        t[k + 1] = (x >> 64) as u64;
        let m = t[0].wrapping_mul(n0inv);
        let x = u128::from(t[0]) + u128::from(m) * u128::from(n[0]);
        let mut c = (x >> 64) as u64;
        for j in 1..k {
            let x = u128::from(t[j]) + u128::from(m) * u128::from(n[j]) + u128::from(c);
            t[j - 1] = x as u64;
            c = (x >> 64) as u64;
        }
        let x = u128::from(t[k]) + u128::from(c);
        t[k - 1] = x as u64;
        t[k] = t[k + 1] + (x >> 64) as u64;
        t[k + 1] = 0;
    }
    // t < 2n: one subtraction at most.
    let ge = t[k] != 0 || (0..k).rev().find(|&j| t[j] != n[j]).is_none_or(|j| t[j] > n[j]);
    let mut out = t[..k].to_vec();
    if ge {
        let mut borrow = false;
        for j in 0..k {
            let (d1, b1) = out[j].overflowing_sub(n[j]);
            let (d2, b2) = d1.overflowing_sub(u64::from(borrow));
            out[j] = d2;
            borrow = b1 || b2;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::traits::PublicKeyParts;

    const KEYS: [&[u8]; 3] = [
        include_bytes!("../../testpki/keys/rsa2048-00.der"),
        include_bytes!("../../testpki/keys/rsa2048-01.der"),
        include_bytes!("../../testpki/keys/rsa2048-02.der"),
    ];

    /// xorshift64: deterministic filler for numbers and messages.
    fn bytes(seed: u64, len: usize) -> Vec<u8> {
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    #[test]
    fn public_op_is_modpow() {
        let exponents: [u64; 7] = [1, 2, 3, 17, 65537, 0xffff_ffff, 0x1_0000_0001];
        for (i, e) in exponents.into_iter().enumerate() {
            for (len, odd) in [1usize, 8, 9, 33, 256, 512].into_iter().flat_map(|l| [(l, false), (l, true)]) {
                let mut n = rsa::BigUint::from_bytes_be(&bytes(i as u64 * 31 + len as u64, len));
                if odd {
                    n |= rsa::BigUint::from(1u32);
                }
                if n < rsa::BigUint::from(3u32) {
                    n = rsa::BigUint::from(1_000_003u32);
                }
                let s = rsa::BigUint::from_bytes_be(&bytes(i as u64 * 7 + 1, len + 3)) % &n;
                let e = rsa::BigUint::from(e);
                assert_eq!(rsa_public_op(&s, &e, &n), s.modpow(&e, &n), "e={e} len={len}");
                // The largest base.
                let top = &n - rsa::BigUint::from(1u32);
                assert_eq!(rsa_public_op(&top, &e, &n), top.modpow(&e, &n), "e={e} len={len}");
            }
        }
    }

    /// The fast PKCS#1 v1.5 check says exactly what the rsa crate says, on good signatures
    /// and on every kind of bad one.
    #[test]
    fn pkcs1v15_agrees_with_the_rsa_crate() {
        let schemes: [(DigestAlg, fn() -> rsa::Pkcs1v15Sign); 5] = [
            (DigestAlg::Sha1, rsa::Pkcs1v15Sign::new::<sha1::Sha1>),
            (DigestAlg::Sha256, rsa::Pkcs1v15Sign::new::<sha2::Sha256>),
            (DigestAlg::Sha384, rsa::Pkcs1v15Sign::new::<sha2::Sha384>),
            (DigestAlg::Sha512, rsa::Pkcs1v15Sign::new::<sha2::Sha512>),
            (DigestAlg::Md5, rsa::Pkcs1v15Sign::new::<md5::Md5>),
        ];
        let mut checked = 0;
        for (ki, der) in KEYS.iter().enumerate() {
            let private = rsa::RsaPrivateKey::from_pkcs8_der(der).unwrap_or_else(|e| panic!("{e}"));
            let key = private.to_public_key();
            for (alg, scheme) in schemes {
                let hashed = alg.hash(&bytes(ki as u64 + 5, 100));
                let good = private.sign(scheme(), &hashed).unwrap_or_else(|e| panic!("{e}"));
                let mut cases: Vec<(Vec<u8>, Vec<u8>)> = vec![(hashed.clone(), good.clone())];
                // Every single bit of the signature flipped, a few bits of the hash.
                for bit in (0..good.len() * 8).step_by(97) {
                    let mut sig = good.clone();
                    sig[bit / 8] ^= 1 << (bit % 8);
                    cases.push((hashed.clone(), sig));
                }
                for bit in [0, 9, hashed.len() * 8 - 1] {
                    let mut h = hashed.clone();
                    h[bit / 8] ^= 1 << (bit % 8);
                    cases.push((h, good.clone()));
                }
                let n = key.n().to_bytes_be();
                cases.extend([
                    (hashed.clone(), good[1..].to_vec()),
                    (hashed.clone(), [&[0u8][..], &good].concat()),
                    (hashed.clone(), n.clone()),
                    (hashed.clone(), vec![0xff; n.len()]),
                    (hashed.clone(), vec![0; n.len()]),
                    (hashed.clone(), Vec::new()),
                    (hashed[1..].to_vec(), good.clone()),
                    (Vec::new(), good.clone()),
                ]);
                // Another key's signature over the same hash.
                let other = rsa::RsaPrivateKey::from_pkcs8_der(KEYS[(ki + 1) % KEYS.len()]).unwrap_or_else(|e| panic!("{e}"));
                cases.push((hashed.clone(), other.sign(scheme(), &hashed).unwrap_or_else(|e| panic!("{e}"))));
                for (h, sig) in cases {
                    let ours = verify_pkcs1v15(&key, &scheme(), &h, &sig).map_err(|e| e.to_string());
                    let theirs = key.verify(scheme(), &h, &sig).map_err(|e| e.to_string());
                    assert_eq!(ours, theirs, "key {ki} {alg:?}");
                    checked += 1;
                }
            }
            // A bare rsaEncryption scheme (no DigestInfo prefix, any hash length).
            let raw = rsa::Pkcs1v15Sign::new_unprefixed();
            let msg = bytes(3, 20);
            let sig = private.sign(raw.clone(), &msg).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(verify_pkcs1v15(&key, &raw, &msg, &sig).map_err(|e| e.to_string()), Ok(()));
            assert_eq!(
                verify_pkcs1v15(&key, &raw, &msg[1..], &sig).map_err(|e| e.to_string()),
                key.verify(raw.clone(), &msg[1..], &sig).map_err(|e| e.to_string())
            );
        }
        assert!(checked > 300);
    }
}
