//! Object identifiers used by the test PKI (dotted form).

pub const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";
pub const MD5_WITH_RSA: &str = "1.2.840.113549.1.1.4";
pub const SHA1_WITH_RSA: &str = "1.2.840.113549.1.1.5";
pub const RSASSA_PSS: &str = "1.2.840.113549.1.1.10";
pub const SHA256_WITH_RSA: &str = "1.2.840.113549.1.1.11";
pub const SHA384_WITH_RSA: &str = "1.2.840.113549.1.1.12";
pub const SHA512_WITH_RSA: &str = "1.2.840.113549.1.1.13";
pub const MGF1: &str = "1.2.840.113549.1.1.8";
pub const EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
pub const P256: &str = "1.2.840.10045.3.1.7";
pub const P384: &str = "1.3.132.0.34";
pub const ECDSA_SHA1: &str = "1.2.840.10045.4.1";
pub const ECDSA_SHA256: &str = "1.2.840.10045.4.3.2";
pub const ECDSA_SHA384: &str = "1.2.840.10045.4.3.3";
pub const ECDSA_SHA512: &str = "1.2.840.10045.4.3.4";
pub const MD5: &str = "1.2.840.113549.2.5";
pub const SHA1: &str = "1.3.14.3.2.26";
pub const SHA256: &str = "2.16.840.1.101.3.4.2.1";
pub const SHA384: &str = "2.16.840.1.101.3.4.2.2";
pub const SHA512: &str = "2.16.840.1.101.3.4.2.3";

pub const DATA: &str = "1.2.840.113549.1.7.1";
pub const SIGNED_DATA: &str = "1.2.840.113549.1.7.2";
pub const TST_INFO: &str = "1.2.840.113549.1.9.16.1.4";
pub const TIMESTAMPED_DATA: &str = "1.2.840.113549.1.9.16.1.31";
pub const ATTR_CONTENT_TYPE: &str = "1.2.840.113549.1.9.3";
pub const ATTR_MESSAGE_DIGEST: &str = "1.2.840.113549.1.9.4";
pub const ATTR_SIGNING_TIME: &str = "1.2.840.113549.1.9.5";
pub const ATTR_COUNTERSIGNATURE: &str = "1.2.840.113549.1.9.6";
pub const ATTR_SIGNING_CERTIFICATE: &str = "1.2.840.113549.1.9.16.2.12";
pub const ATTR_SIGNING_CERTIFICATE_V2: &str = "1.2.840.113549.1.9.16.2.47";
pub const ATTR_SIGNATURE_TIMESTAMP: &str = "1.2.840.113549.1.9.16.2.14";

pub const AT_COMMON_NAME: &str = "2.5.4.3";
pub const AT_SURNAME: &str = "2.5.4.4";
pub const AT_SERIAL_NUMBER: &str = "2.5.4.5";
pub const AT_COUNTRY: &str = "2.5.4.6";
pub const AT_ORGANIZATION: &str = "2.5.4.10";
pub const AT_GIVEN_NAME: &str = "2.5.4.42";

pub const EXT_SUBJECT_KEY_ID: &str = "2.5.29.14";
pub const EXT_KEY_USAGE: &str = "2.5.29.15";
pub const EXT_SUBJECT_ALT_NAME: &str = "2.5.29.17";
pub const EXT_BASIC_CONSTRAINTS: &str = "2.5.29.19";
pub const EXT_AUTHORITY_KEY_ID: &str = "2.5.29.35";
pub const EXT_EXTENDED_KEY_USAGE: &str = "2.5.29.37";
pub const EXT_QC_STATEMENTS: &str = "1.3.6.1.5.5.7.1.3";
pub const EXT_CRL_NUMBER: &str = "2.5.29.20";
pub const QC_COMPLIANCE: &str = "0.4.0.1862.1.1";
pub const QC_SSCD: &str = "0.4.0.1862.1.4";
pub const QC_TYPE: &str = "0.4.0.1862.1.6";
pub const QC_TYPE_ESIGN: &str = "0.4.0.1862.1.6.1";
pub const KP_TIME_STAMPING: &str = "1.3.6.1.5.5.7.3.8";
