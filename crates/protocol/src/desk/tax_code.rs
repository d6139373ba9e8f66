//! Italian tax identifiers with their check characters: the codice fiscale of a person (16
//! characters, the last one a check letter, omocodia included) and the partita IVA / codice
//! fiscale numerico of an organisation (11 digits, the last one a Luhn-style check digit).
//! A typo in either is caught here, before it is written in the register for good.

/// What kind of identifier a valid code is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaxCodeKind {
    /// Codice fiscale of a natural person.
    Person,
    /// Partita IVA or codice fiscale numerico of an organisation.
    Organisation,
}

/// The code in canonical form (upper case, no spaces) and its kind, or why it is not valid
/// (in Italian, for the clerk or the calling system).
pub fn validate(input: &str) -> Result<(String, TaxCodeKind), String> {
    let code: String = input.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_uppercase();
    if code.len() == 11 && code.bytes().all(|b| b.is_ascii_digit()) {
        return vat(&code).map(|()| (code, TaxCodeKind::Organisation));
    }
    if code.chars().count() == 16 {
        return person(&code).map(|()| (code, TaxCodeKind::Person));
    }
    Err("deve essere un codice fiscale di 16 caratteri o una partita IVA di 11 cifre".to_owned())
}

fn vat(code: &str) -> Result<(), String> {
    let digits: Vec<u32> = code.bytes().map(|b| u32::from(b - b'0')).collect();
    if digits.iter().all(|&d| d == 0) {
        return Err("la partita IVA non può essere composta di soli zeri".to_owned());
    }
    let sum: u32 = digits[..10]
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let d = d * 2;
                if d > 9 { d - 9 } else { d }
            } else {
                d
            }
        })
        .sum();
    if (10 - sum % 10) % 10 != digits[10] {
        return Err("la cifra di controllo della partita IVA non corrisponde: verifichi le cifre".to_owned());
    }
    Ok(())
}

/// Values of the characters in odd positions (1st, 3rd, …) for the check letter (DM
/// 23/12/1976); digits count as the letter of the same rank.
const ODD: [u32; 26] = [1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23];

fn person(code: &str) -> Result<(), String> {
    let b = code.as_bytes();
    if b.len() != 16 || !b.iter().all(u8::is_ascii_alphanumeric) {
        return Err("il codice fiscale contiene caratteri non ammessi".to_owned());
    }
    // Omocodia replaces digits with these letters, so a digit position takes either.
    let digit_like = |c: u8| c.is_ascii_digit() || b"LMNPQRSTUV".contains(&c);
    let shape_ok = b[..6].iter().all(u8::is_ascii_uppercase)
        && [6, 7, 9, 10, 12, 13, 14].iter().all(|&i| digit_like(b[i]))
        && [8, 11, 15].iter().all(|&i| b[i].is_ascii_uppercase());
    if !shape_ok {
        return Err("il codice fiscale non ha la forma prevista (6 lettere, 2 cifre, lettera, 2 cifre, lettera, 3 cifre, lettera)"
            .to_owned());
    }
    let value = |c: u8| -> u32 { if c.is_ascii_digit() { u32::from(c - b'0') } else { u32::from(c - b'A') } };
    let sum: u32 = b[..15]
        .iter()
        .enumerate()
        .map(|(i, &c)| if i % 2 == 0 { ODD[value(c) as usize] } else { value(c) })
        .sum();
    let expected = b'A' + u8::try_from(sum % 26).unwrap_or(0);
    if b[15] != expected {
        return Err("il carattere di controllo del codice fiscale non corrisponde: verifichi il codice".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_codes_are_accepted_in_canonical_form() {
        assert_eq!(validate("RSSMRA85T10A562S"), Ok(("RSSMRA85T10A562S".into(), TaxCodeKind::Person)));
        assert_eq!(validate(" rssmra85t10a562s "), Ok(("RSSMRA85T10A562S".into(), TaxCodeKind::Person)));
        assert_eq!(validate("BNCMRA80A41H501E").map(|c| c.1), Ok(TaxCodeKind::Person));
        assert_eq!(validate("00743110157"), Ok(("00743110157".into(), TaxCodeKind::Organisation)));
        assert_eq!(validate("12345678903").map(|c| c.1), Ok(TaxCodeKind::Organisation));
    }

    #[test]
    fn omocodia_letters_are_digits() {
        // RSSMRA85T10A562S with the last digit 2 written as N (omocodia): new check letter.
        let base = "RSSMRA85T10A56N";
        let good = (b'A'..=b'Z').map(|c| format!("{base}{}", c as char)).find(|c| validate(c).is_ok()).unwrap();
        assert_eq!(good.len(), 16);
    }

    #[test]
    fn typos_are_caught_with_the_reason() {
        assert!(validate("RSSMRA85T10A562T").unwrap_err().contains("controllo"));
        assert!(validate("RSSMRA85T10A526S").unwrap_err().contains("controllo"));
        assert!(validate("00743110158").unwrap_err().contains("partita IVA"));
        assert!(validate("00000000000").is_err());
        assert!(validate("RSSMRA85T10A56").unwrap_err().contains("16 caratteri"));
        assert!(validate("1SSMRA85T10A562S").unwrap_err().contains("forma"));
        assert!(validate("RSSMRA85T10A562Ș").is_err());
    }
}
