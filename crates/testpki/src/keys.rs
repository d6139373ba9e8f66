//! Private keys for the test PKI. RSA key generation takes seconds in a debug test process
//! and nextest runs every test in its own process, so RSA keys come from a pool of
//! pre-generated 2048-bit keys compiled into the crate; EC keys are generated (cheap).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use rand_core::OsRng;
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, Pss, RsaPrivateKey};
use sha2::Digest as _;

use crate::der;
use crate::{DigestAlg, oids};

const RSA_POOL_DER: [&[u8]; 12] = [
    include_bytes!("../keys/rsa2048-00.der"),
    include_bytes!("../keys/rsa2048-01.der"),
    include_bytes!("../keys/rsa2048-02.der"),
    include_bytes!("../keys/rsa2048-03.der"),
    include_bytes!("../keys/rsa2048-04.der"),
    include_bytes!("../keys/rsa2048-05.der"),
    include_bytes!("../keys/rsa2048-06.der"),
    include_bytes!("../keys/rsa2048-07.der"),
    include_bytes!("../keys/rsa2048-08.der"),
    include_bytes!("../keys/rsa2048-09.der"),
    include_bytes!("../keys/rsa2048-10.der"),
    include_bytes!("../keys/rsa2048-11.der"),
];

static NEXT_RSA: AtomicUsize = AtomicUsize::new(0);
static RSA_POOL: OnceLock<Vec<RsaPrivateKey>> = OnceLock::new();

fn rsa_pool() -> &'static [RsaPrivateKey] {
    RSA_POOL.get_or_init(|| {
        RSA_POOL_DER
            .iter()
            .map(|d| RsaPrivateKey::from_pkcs8_der(d).expect("embedded test key is valid PKCS#8"))
            .collect()
    })
}

/// Which kind of key to create for a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyKind {
    /// RSA 2048 from the embedded pool (12 distinct keys, then they repeat).
    #[default]
    Rsa2048,
    P256,
    P384,
}

/// A private key of the test PKI.
#[derive(Clone)]
pub enum PrivateKey {
    Rsa(RsaPrivateKey),
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PrivateKey::Rsa(k) => write!(f, "PrivateKey::Rsa({} bits)", k.size() * 8),
            PrivateKey::P256(_) => f.write_str("PrivateKey::P256"),
            PrivateKey::P384(_) => f.write_str("PrivateKey::P384"),
        }
    }
}

impl PrivateKey {
    /// A fresh key of the given kind (RSA: the next key of the embedded pool).
    pub fn new(kind: KeyKind) -> Self {
        match kind {
            KeyKind::Rsa2048 => {
                let pool = rsa_pool();
                let i = NEXT_RSA.fetch_add(1, Ordering::Relaxed) % pool.len();
                PrivateKey::Rsa(pool[i].clone())
            }
            KeyKind::P256 => PrivateKey::P256(p256::ecdsa::SigningKey::random(&mut OsRng)),
            KeyKind::P384 => PrivateKey::P384(p384::ecdsa::SigningKey::random(&mut OsRng)),
        }
    }

    /// A freshly generated key of the given kind (RSA 2048 from the OS RNG: slow in debug
    /// builds, seconds rather than milliseconds). For PKIs written to disk, whose keys must
    /// not be the pool's public ones.
    pub fn generate(kind: KeyKind) -> Self {
        match kind {
            KeyKind::Rsa2048 => PrivateKey::Rsa(RsaPrivateKey::new(&mut OsRng, 2048).expect("RSA key generation")),
            KeyKind::P256 | KeyKind::P384 => PrivateKey::new(kind),
        }
    }

    /// PKCS#8 `PrivateKeyInfo` DER.
    pub fn to_pkcs8_der(&self) -> Vec<u8> {
        use rsa::pkcs8::EncodePrivateKey;
        let doc = match self {
            PrivateKey::Rsa(k) => k.to_pkcs8_der(),
            PrivateKey::P256(k) => p256::SecretKey::from(k.as_nonzero_scalar()).to_pkcs8_der(),
            PrivateKey::P384(k) => p384::SecretKey::from(k.as_nonzero_scalar()).to_pkcs8_der(),
        };
        doc.expect("PKCS#8 encoding of a valid key").as_bytes().to_vec()
    }

    /// PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`), as OpenSSL writes it.
    pub fn to_pkcs8_pem(&self) -> String {
        crate::pem("PRIVATE KEY", &self.to_pkcs8_der())
    }

    /// Reads a PKCS#8 DER key (RSA, P-256 or P-384).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, String> {
        if let Ok(k) = RsaPrivateKey::from_pkcs8_der(der) {
            return Ok(PrivateKey::Rsa(k));
        }
        if let Ok(k) = p256::SecretKey::from_pkcs8_der(der) {
            return Ok(PrivateKey::P256(k.into()));
        }
        p384::SecretKey::from_pkcs8_der(der)
            .map(|k| PrivateKey::P384(k.into()))
            .map_err(|_| "not a PKCS#8 RSA, P-256 or P-384 private key".to_owned())
    }

    /// Reads the first `PRIVATE KEY` block of a PEM text.
    pub fn from_pkcs8_pem(text: &str) -> Result<Self, String> {
        let der = crate::pem_decode(text)?
            .into_iter()
            .find(|(label, _)| label == "PRIVATE KEY")
            .map(|(_, der)| der)
            .ok_or_else(|| "no PRIVATE KEY block in the PEM text".to_owned())?;
        Self::from_pkcs8_der(&der)
    }

    /// RSA key number `i` of the embedded pool (deterministic across runs).
    pub fn rsa_from_pool(i: usize) -> Self {
        let pool = rsa_pool();
        PrivateKey::Rsa(pool[i % pool.len()].clone())
    }

    /// DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> Vec<u8> {
        match self {
            PrivateKey::Rsa(k) => {
                let pk = der::seq(&[&der::uint(&k.n().to_bytes_be()), &der::uint(&k.e().to_bytes_be())]);
                der::seq(&[&der::alg(oids::RSA_ENCRYPTION, Some(&der::null())), &der::bits(&pk)])
            }
            PrivateKey::P256(k) => {
                let point = k.verifying_key().to_encoded_point(false);
                der::seq(&[
                    &der::seq(&[&der::oid(oids::EC_PUBLIC_KEY), &der::oid(oids::P256)]),
                    &der::bits(point.as_bytes()),
                ])
            }
            PrivateKey::P384(k) => {
                let point = k.verifying_key().to_encoded_point(false);
                der::seq(&[
                    &der::seq(&[&der::oid(oids::EC_PUBLIC_KEY), &der::oid(oids::P384)]),
                    &der::bits(point.as_bytes()),
                ])
            }
        }
    }

    /// The subjectPublicKey bits (what the SubjectKeyIdentifier hashes).
    pub fn public_key_bits(&self) -> Vec<u8> {
        let spki = self.spki_der();
        let parts = der::children(&spki);
        der::content(parts[1])[1..].to_vec()
    }

    /// RFC 5280 method-1 key identifier: SHA-1 of the subjectPublicKey bits.
    pub fn key_identifier(&self) -> Vec<u8> {
        sha1::Sha1::digest(self.public_key_bits()).to_vec()
    }

    /// Signs `data` (hashing it with `digest`); returns (signatureAlgorithm DER, signature).
    /// `pss` selects RSASSA-PSS for RSA keys and is ignored for EC keys.
    pub fn sign(&self, digest: DigestAlg, data: &[u8], pss: bool) -> (Vec<u8>, Vec<u8>) {
        let hash = digest.hash(data);
        match self {
            PrivateKey::Rsa(k) if pss => {
                let scheme = match digest {
                    DigestAlg::Sha1 => Pss::new::<sha1::Sha1>(),
                    DigestAlg::Sha256 => Pss::new::<sha2::Sha256>(),
                    DigestAlg::Sha384 => Pss::new::<sha2::Sha384>(),
                    DigestAlg::Sha512 => Pss::new::<sha2::Sha512>(),
                    DigestAlg::Md5 => panic!("PSS with MD5 is not supported"),
                };
                let sig = k.sign_with_rng(&mut OsRng, scheme, &hash).expect("RSA-PSS signing");
                let h = digest.alg_der();
                let mgf = der::alg(oids::MGF1, Some(&h));
                let params = der::seq(&[
                    &der::tlv(der::ctx(0), &h),
                    &der::tlv(der::ctx(1), &mgf),
                    &der::tlv(der::ctx(2), &der::small_int(digest.output_len() as u64)),
                ]);
                (der::alg(oids::RSASSA_PSS, Some(&params)), sig)
            }
            PrivateKey::Rsa(k) => {
                let scheme = match digest {
                    DigestAlg::Md5 => Pkcs1v15Sign::new::<md5::Md5>(),
                    DigestAlg::Sha1 => Pkcs1v15Sign::new::<sha1::Sha1>(),
                    DigestAlg::Sha256 => Pkcs1v15Sign::new::<sha2::Sha256>(),
                    DigestAlg::Sha384 => Pkcs1v15Sign::new::<sha2::Sha384>(),
                    DigestAlg::Sha512 => Pkcs1v15Sign::new::<sha2::Sha512>(),
                };
                let sig = k.sign(scheme, &hash).expect("RSA signing");
                let alg = match digest {
                    DigestAlg::Md5 => oids::MD5_WITH_RSA,
                    DigestAlg::Sha1 => oids::SHA1_WITH_RSA,
                    DigestAlg::Sha256 => oids::SHA256_WITH_RSA,
                    DigestAlg::Sha384 => oids::SHA384_WITH_RSA,
                    DigestAlg::Sha512 => oids::SHA512_WITH_RSA,
                };
                (der::alg(alg, Some(&der::null())), sig)
            }
            PrivateKey::P256(k) => {
                use p256::ecdsa::signature::hazmat::PrehashSigner;
                let sig: p256::ecdsa::Signature = k.sign_prehash(&hash).expect("ECDSA signing");
                (der::alg(digest.ecdsa_oid(), None), sig.to_der().as_bytes().to_vec())
            }
            PrivateKey::P384(k) => {
                use p384::ecdsa::signature::hazmat::PrehashSigner;
                let sig: p384::ecdsa::Signature = k.sign_prehash(&hash).expect("ECDSA signing");
                (der::alg(digest.ecdsa_oid(), None), sig.to_der().as_bytes().to_vec())
            }
        }
    }
}
