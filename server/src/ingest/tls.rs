//! TLS for `mqtts://` and `wss://` brokers. The client configuration is built here, at start-up,
//! so that an unreadable or wrong certificate file is refused with the setting's name instead of
//! failing on every reconnect.

use crate::config::{ConfigError, MqttSettings};
use crate::pem::{self, certificates};
use rumqttc::TlsConfiguration;
use rustls::{ClientConfig, RootCertStore};
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
            let key = pem::private_key(&client.key_file)?;
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
