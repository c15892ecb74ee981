//! What a client proves and checks: TLS (with an `https://` target; mutual TLS with a client
//! certificate) and a bearer token on every call.

use crate::ClientError;
use shared_utils::pem::read_pem;
use shared_utils::secret::Secret;
use std::fmt;
use std::path::Path;
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

/// How the client proves who it talks to, and who it is: TLS (with an `https://` target) and a
/// bearer token on every call. Both off by default.
#[derive(Debug, Clone, Default)]
pub struct ClientSecurity {
    /// TLS settings; `None` with an `https://` target means the public CAs and the target's
    /// host name.
    pub tls: Option<ClientTls>,
    /// Sent as `authorization: Bearer <token>` on every call.
    pub auth_token: Option<Secret>,
}

/// The client's TLS settings, read from PEM files.
#[derive(Clone, Default)]
pub struct ClientTls {
    /// The CA certificates the server's certificate must chain to (PEM); `None`: the public CAs
    /// (webpki roots).
    pub ca_pem: Option<Vec<u8>>,
    /// The client's certificate and private key (PEM), for servers that require them (mutual
    /// TLS).
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
    /// The name the server's certificate must carry, instead of the target's host.
    pub domain: Option<String>,
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientTls")
            .field("ca", &self.ca_pem.as_ref().map(|_| "custom"))
            .field("identity", &self.identity.as_ref().map(|_| "[redacted]"))
            .field("domain", &self.domain)
            .finish()
    }
}

impl ClientTls {
    /// Reads the settings from files: the CA, and the client's certificate and key (both or
    /// neither).
    pub fn from_files(
        ca: Option<&Path>,
        client_cert: Option<&Path>,
        client_key: Option<&Path>,
        domain: Option<String>,
    ) -> Result<Self, ClientError> {
        let identity = match (client_cert, client_key) {
            (Some(cert), Some(key)) => Some((
                read_pem("client certificate", cert)?,
                read_pem("client key", key)?,
            )),
            (None, None) => None,
            _ => return Err(ClientError::IncompleteIdentity),
        };
        Ok(Self {
            ca_pem: ca
                .map(|path| read_pem("CA certificate", path))
                .transpose()?,
            identity,
            domain,
        })
    }

    pub(crate) fn config(&self) -> ClientTlsConfig {
        let mut config = ClientTlsConfig::new();
        config = match &self.ca_pem {
            Some(ca) => config.ca_certificate(Certificate::from_pem(ca)),
            None => config.with_webpki_roots(),
        };
        if let Some((cert, key)) = &self.identity {
            config = config.identity(Identity::from_pem(cert, key));
        }
        if let Some(domain) = &self.domain {
            config = config.domain_name(domain.clone());
        }
        config
    }
}
