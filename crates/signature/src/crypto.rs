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
                if scheme.hash_len.is_some_and(|len| len != hashed.len()) {
                    return Err(format!("RSA PKCS#1 v1.5: {}", rsa::Error::InputNotHashed));
                }
                use rsa::traits::PublicKeyParts;
                match crate::rsa_verify::pkcs1v15(&k.n().to_bytes_be(), &k.e().to_bytes_be(), &scheme.prefix, hashed, signature) {
                    Some(true) => Ok(()),
                    Some(false) => Err(format!("RSA PKCS#1 v1.5: {}", rsa::Error::Verification)),
                    None => k.verify(scheme, hashed, signature).map_err(|e| format!("RSA PKCS#1 v1.5: {e}")),
                }
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
