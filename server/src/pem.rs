//! PEM files named by settings (the broker's CA and client certificate, the HTTPS certificate),
//! read at start-up so that a wrong file is refused with the setting's name.

use crate::config::{ConfigError, Sourced};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::PathBuf;

/// Every certificate in the file, in order; at least one.
pub fn certificates(file: &Sourced<PathBuf>) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
    let pem = read(file)?;
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| {
            file.invalid(format!(
                "{} is not a PEM certificate file ({error})",
                file.value.display()
            ))
        })?;
    if certificates.is_empty() {
        return Err(file.invalid(format!("{} holds no PEM certificate", file.value.display())));
    }
    Ok(certificates)
}

/// The private key in the file (PKCS#8, PKCS#1 or SEC1).
pub fn private_key(file: &Sourced<PathBuf>) -> Result<PrivateKeyDer<'static>, ConfigError> {
    let pem = read(file)?;
    PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|error| file.invalid(format!("no PEM private key found ({error})")))
}

fn read(file: &Sourced<PathBuf>) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(&file.value)
        .map_err(|error| file.unusable(format!("cannot read {}: {error}", file.value.display())))
}
