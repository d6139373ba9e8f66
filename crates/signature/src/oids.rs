//! Object identifiers the verifier recognises.

use const_oid::ObjectIdentifier as Oid;

pub const RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
pub const MD5_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.4");
pub const SHA1_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.5");
pub const RSASSA_PSS: Oid = Oid::new_unwrap("1.2.840.113549.1.1.10");
pub const SHA256_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
pub const SHA384_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
pub const SHA512_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");
pub const SHA224_WITH_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.14");
pub const MGF1: Oid = Oid::new_unwrap("1.2.840.113549.1.1.8");
pub const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
pub const P256: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
pub const P384: Oid = Oid::new_unwrap("1.3.132.0.34");
pub const ECDSA_SHA1: Oid = Oid::new_unwrap("1.2.840.10045.4.1");
pub const ECDSA_SHA224: Oid = Oid::new_unwrap("1.2.840.10045.4.3.1");
pub const ECDSA_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
pub const ECDSA_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
pub const ECDSA_SHA512: Oid = Oid::new_unwrap("1.2.840.10045.4.3.4");
pub const MD5: Oid = Oid::new_unwrap("1.2.840.113549.2.5");
pub const SHA1: Oid = Oid::new_unwrap("1.3.14.3.2.26");
pub const SHA224: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.4");
pub const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
pub const SHA384: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.2");
pub const SHA512: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.3");

pub const DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.1");
pub const SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
pub const TST_INFO: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.1.4");
pub const TIMESTAMPED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.1.31");
pub const ATTR_CONTENT_TYPE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.3");
pub const ATTR_MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");
pub const ATTR_SIGNING_TIME: Oid = Oid::new_unwrap("1.2.840.113549.1.9.5");
pub const ATTR_COUNTERSIGNATURE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.6");
pub const ATTR_SIGNING_CERTIFICATE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.12");
pub const ATTR_SIGNING_CERTIFICATE_V2: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.47");
pub const ATTR_SIGNATURE_TIMESTAMP: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.2.14");

pub const AT_COMMON_NAME: Oid = Oid::new_unwrap("2.5.4.3");
pub const AT_SURNAME: Oid = Oid::new_unwrap("2.5.4.4");
pub const AT_SERIAL_NUMBER: Oid = Oid::new_unwrap("2.5.4.5");
pub const AT_COUNTRY: Oid = Oid::new_unwrap("2.5.4.6");
pub const AT_LOCALITY: Oid = Oid::new_unwrap("2.5.4.7");
pub const AT_STATE: Oid = Oid::new_unwrap("2.5.4.8");
pub const AT_ORGANIZATION: Oid = Oid::new_unwrap("2.5.4.10");
pub const AT_ORG_UNIT: Oid = Oid::new_unwrap("2.5.4.11");
pub const AT_TITLE: Oid = Oid::new_unwrap("2.5.4.12");
pub const AT_GIVEN_NAME: Oid = Oid::new_unwrap("2.5.4.42");
pub const AT_DN_QUALIFIER: Oid = Oid::new_unwrap("2.5.4.46");
pub const AT_ORG_IDENTIFIER: Oid = Oid::new_unwrap("2.5.4.97");
pub const AT_EMAIL: Oid = Oid::new_unwrap("1.2.840.113549.1.9.1");

pub const EXT_SUBJECT_KEY_ID: Oid = Oid::new_unwrap("2.5.29.14");
pub const EXT_KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.15");
pub const EXT_SUBJECT_ALT_NAME: Oid = Oid::new_unwrap("2.5.29.17");
pub const EXT_BASIC_CONSTRAINTS: Oid = Oid::new_unwrap("2.5.29.19");
pub const EXT_NAME_CONSTRAINTS: Oid = Oid::new_unwrap("2.5.29.30");
pub const EXT_CERTIFICATE_POLICIES: Oid = Oid::new_unwrap("2.5.29.32");
pub const EXT_CRL_DISTRIBUTION_POINTS: Oid = Oid::new_unwrap("2.5.29.31");
pub const EXT_AUTHORITY_INFO_ACCESS: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.1.1");
pub const AD_OCSP: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.48.1");
pub const EXT_EXTENDED_KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.37");
pub const KP_OCSP_SIGNING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.9");
pub const OCSP_BASIC: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.48.1.1");
pub const EXT_QC_STATEMENTS: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.1.3");
pub const QC_COMPLIANCE: Oid = Oid::new_unwrap("0.4.0.1862.1.1");
pub const QC_SSCD: Oid = Oid::new_unwrap("0.4.0.1862.1.4");
pub const QC_LIMIT_VALUE: Oid = Oid::new_unwrap("0.4.0.1862.1.2");
pub const QC_RETENTION_PERIOD: Oid = Oid::new_unwrap("0.4.0.1862.1.3");
pub const QC_PDS: Oid = Oid::new_unwrap("0.4.0.1862.1.5");
pub const QC_TYPE: Oid = Oid::new_unwrap("0.4.0.1862.1.6");
pub const QC_TYPE_ESIGN: Oid = Oid::new_unwrap("0.4.0.1862.1.6.1");
pub const QC_TYPE_ESEAL: Oid = Oid::new_unwrap("0.4.0.1862.1.6.2");
pub const QC_TYPE_WEB: Oid = Oid::new_unwrap("0.4.0.1862.1.6.3");
pub const QC_CC_LEGISLATION: Oid = Oid::new_unwrap("0.4.0.1862.1.7");
/// RFC 3739 id-qcs-pkixQCSyntax-v2 (semantics identifier, e.g. natural person).
pub const QCS_PKIX_SYNTAX_V2: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.11.2");

/// Whether `tlv` is an OBJECT IDENTIFIER equal to `oid`.
pub fn is(tlv: &crate::ber::Tlv<'_>, oid: &Oid) -> bool {
    tlv.tag == crate::ber::OID && tlv.content == oid.as_bytes()
}

/// The content octets of the OID written `dotted` ("1.3.76.38.1.1.1"); `None` when it is
/// not one.
pub fn from_dotted(dotted: &str) -> Option<Vec<u8>> {
    Oid::new(dotted.trim()).ok().map(|o| o.as_bytes().to_vec())
}

/// Dotted form of an OID TLV (for reports); "?" when not decodable.
pub fn dotted(tlv: &crate::ber::Tlv<'_>) -> String {
    Oid::from_bytes(tlv.content).map(|o| o.to_string()).unwrap_or_else(|_| "?".to_owned())
}
