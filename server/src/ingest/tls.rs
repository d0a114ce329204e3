//! TLS for `mqtts://` and `wss://` brokers. The client configuration is built here, at start-up,
//! so that an unreadable or wrong certificate file is refused with the setting's name instead of
//! failing on every reconnect.

use crate::config::{ConfigError, MqttSettings, Sourced};
use rumqttc::TlsConfiguration;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};
use std::path::PathBuf;
use std::sync::Arc;

pub fn client_config(settings: &MqttSettings) -> Result<TlsConfiguration, ConfigError> {
    let tls = &settings.tls;
    let mut roots = RootCertStore::empty();
    match &tls.ca_file {
        Some(ca_file) => {
            for certificate in certificates(ca_file)? {
                roots.add(certificate).map_err(|error| {
                    ca_file.invalid(format!("a certificate in it was refused: {error}"))
                })?;
            }
        }
        None => {
            // The system's authorities, as a browser would use: right for a broker with a public
            // certificate.
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                return Err(settings.url.unusable(
                    "no system CA certificates were found to check the broker's certificate \
                     (install ca-certificates, or set LOOKOUT_MQTT_CA_FILE)",
                ));
            }
        }
    }

    // ring explicitly: the one provider in the build, and no process-wide default to install.
    let builder =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|error| settings.url.invalid(format!("TLS set-up failed: {error}")))?
            .with_root_certificates(roots);

    let config = match &tls.client_certificate {
        Some(client) => {
            let chain = certificates(&client.cert_file)?;
            let key = read(&client.key_file).and_then(|pem| {
                PrivateKeyDer::from_pem_slice(&pem).map_err(|error| {
                    client
                        .key_file
                        .invalid(format!("no PEM private key found ({error})"))
                })
            })?;
            builder.with_client_auth_cert(chain, key).map_err(|error| {
                client.key_file.invalid(format!(
                    "the key does not go with the certificate in {}: {error}",
                    client.cert_file.value.display()
                ))
            })?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(TlsConfiguration::Rustls(Arc::new(config)))
}

fn read(file: &Sourced<PathBuf>) -> Result<Vec<u8>, ConfigError> {
    std::fs::read(&file.value)
        .map_err(|error| file.unusable(format!("cannot read {}: {error}", file.value.display())))
}

fn certificates(file: &Sourced<PathBuf>) -> Result<Vec<CertificateDer<'static>>, ConfigError> {
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
