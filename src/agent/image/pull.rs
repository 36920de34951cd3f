//! Pulling from OCI registries with oci-client (rustls with the ring provider): mirrors first,
//! Docker Hub's token flow and basic auth, our own platform choice in indexes (arm variants),
//! every document and blob verified against its digest, layers streamed to disk (never held
//! whole in memory) with progress reported.
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use tokio::io::AsyncWrite;

use super::digest::{Digest, Hasher};
use super::oci::{self, Descriptor, Index, Manifest};
use super::reference::ImageRef;
use super::registries::{Endpoint, RegistriesConfig};
use super::store::{ImageRecord, ImageStore};

/// Why a pull failed. Messages name the image and the endpoint.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("pulling {image} from {endpoint}: {message}")]
    Registry {
        image: String,
        endpoint: String,
        message: String,
    },
    #[error("pulling {image}: {source}")]
    Store {
        image: String,
        source: super::store::StoreError,
    },
    #[error("pulling {image}: {what} {expected} arrived with digest {actual}")]
    Digest {
        image: String,
        what: &'static str,
        expected: String,
        actual: Digest,
    },
    #[error("pulling {image}: no manifest for {platform}")]
    Platform { image: String, platform: String },
    #[error("pulling {image}: {errors}")]
    AllEndpointsFailed { image: String, errors: String },
}

/// Bytes transferred so far, for progress bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PullProgress {
    pub bytes_done: u64,
    pub bytes_total: u64,
}

/// Called with progress while layers download.
pub type ProgressFn = dyn Fn(PullProgress) + Send + Sync;

/// The registry client.
#[derive(Clone)]
pub struct Puller {
    config: Arc<RegistriesConfig>,
}

const ACCEPTED_MANIFESTS: [&str; 4] = [
    oci::MEDIA_TYPE_OCI_MANIFEST,
    oci::MEDIA_TYPE_OCI_INDEX,
    oci::MEDIA_TYPE_DOCKER_MANIFEST,
    oci::MEDIA_TYPE_DOCKER_LIST,
];

/// Writes a blob to a temporary file while hashing it and counting progress.
struct BlobWriter<'a> {
    file: tokio::fs::File,
    hasher: Hasher,
    progress: Option<(&'a ProgressFn, u64, u64)>,
}

impl AsyncWrite for BlobWriter<'_> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        match Pin::new(&mut this.file).poll_write(cx, buf) {
            Poll::Ready(Ok(n)) => {
                this.hasher.update(&buf[..n]);
                if let Some((report, base, total)) = &this.progress {
                    report(PullProgress {
                        bytes_done: base + this.hasher.bytes(),
                        bytes_total: *total,
                    });
                }
                Poll::Ready(Ok(n))
            }
            other => other,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.file).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.file).poll_shutdown(cx)
    }
}

impl Puller {
    /// A puller with `config`. Installs rustls' ring provider as the process default (once).
    pub fn new(config: RegistriesConfig) -> Puller {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Puller {
            config: Arc::new(config),
        }
    }

    fn client(&self, endpoint: &Endpoint) -> Result<(Client, RegistryAuth), String> {
        let host_config = self.config.host_config(&endpoint.host);
        let tls = host_config.tls.unwrap_or_default();
        let mut extra_root_certificates = Vec::new();
        if let Some(ca_file) = &tls.ca_file {
            let data = std::fs::read(ca_file)
                .map_err(|e| format!("CA file {}: {e}", ca_file.display()))?;
            extra_root_certificates.push(Certificate {
                encoding: CertificateEncoding::Pem,
                data,
            });
        }
        let config = ClientConfig {
            protocol: if endpoint.plain_http {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            accept_invalid_certificates: tls.insecure_skip_verify,
            extra_root_certificates,
            // Indexes are resolved by `choose`, which knows arm variants.
            platform_resolver: None,
            connect_timeout: Some(std::time::Duration::from_secs(10)),
            read_timeout: Some(std::time::Duration::from_secs(60)),
            user_agent: concat!("flotilla/", env!("CARGO_PKG_VERSION")),
            ..Default::default()
        };
        let auth = match host_config.auth {
            Some(auth) if !auth.username.is_empty() => {
                RegistryAuth::Basic(auth.username, auth.password)
            }
            _ => RegistryAuth::Anonymous,
        };
        Ok((Client::new(config), auth))
    }

    /// Pulls `image` into `store` and makes it runnable; tries each endpoint in turn.
    pub async fn pull(
        &self,
        store: &ImageStore,
        image: &ImageRef,
        progress: Option<&ProgressFn>,
    ) -> Result<ImageRecord, PullError> {
        let mut errors = Vec::new();
        for endpoint in self.config.endpoints(image.registry()) {
            match self.pull_from(store, image, &endpoint, progress).await {
                Ok(record) => return Ok(record),
                // A store failure (disk full, corrupt layer) is not fixed by another endpoint.
                Err(e @ PullError::Store { .. }) => return Err(e),
                Err(e) => {
                    tracing::debug!(image = %image, endpoint = %endpoint.host, error = %e, "pull attempt failed");
                    errors.push(e.to_string());
                }
            }
        }
        match errors.len() {
            1 => Err(PullError::AllEndpointsFailed {
                image: image.to_string(),
                errors: errors.remove(0),
            }),
            _ => Err(PullError::AllEndpointsFailed {
                image: image.to_string(),
                errors: errors.join("; "),
            }),
        }
    }

    async fn pull_from(
        &self,
        store: &ImageStore,
        image: &ImageRef,
        endpoint: &Endpoint,
        progress: Option<&ProgressFn>,
    ) -> Result<ImageRecord, PullError> {
        let registry_error = |message: String| PullError::Registry {
            image: image.to_string(),
            endpoint: endpoint.host.clone(),
            message,
        };
        let (client, auth) = self.client(endpoint).map_err(registry_error)?;
        let reference = |tag_or_digest: Result<&str, &Digest>| match tag_or_digest {
            Ok(tag) => Reference::with_tag(
                endpoint.host.clone(),
                image.repository().to_string(),
                tag.to_string(),
            ),
            Err(digest) => Reference::with_digest(
                endpoint.host.clone(),
                image.repository().to_string(),
                digest.to_string(),
            ),
        };
        let top = match (image.digest(), image.tag()) {
            (Some(digest), _) => reference(Err(digest)),
            (None, tag) => reference(Ok(tag.unwrap_or("latest"))),
        };
        let (bytes, _) = client
            .pull_manifest_raw(&top, &auth, &ACCEPTED_MANIFESTS)
            .await
            .map_err(|e| registry_error(e.to_string()))?;
        let mut digest = Digest::of(&bytes);
        if let Some(expected) = image.digest() {
            if *expected != digest {
                return Err(PullError::Digest {
                    image: image.to_string(),
                    what: "manifest",
                    expected: expected.to_string(),
                    actual: digest,
                });
            }
        }
        let store_error = |source| PullError::Store {
            image: image.to_string(),
            source,
        };
        let mut document = bytes.to_vec();
        // Follow an index to this node's manifest (verified against the index's digest).
        for _ in 0..2 {
            let media_type = serde_json::from_slice::<serde_json::Value>(&document)
                .ok()
                .and_then(|v| {
                    v.get("mediaType")
                        .and_then(|m| m.as_str())
                        .map(str::to_string)
                })
                .unwrap_or_default();
            let is_index = oci::is_index(&media_type)
                || serde_json::from_slice::<Index>(&document)
                    .is_ok_and(|i| !i.manifests.is_empty());
            if !is_index {
                break;
            }
            store.write_document(&document).map_err(store_error)?;
            let index: Index = serde_json::from_slice(&document)
                .map_err(|e| registry_error(format!("index: {e}")))?;
            let chosen =
                super::platform::choose(store.host(), &index.manifests).ok_or_else(|| {
                    PullError::Platform {
                        image: image.to_string(),
                        platform: store.host().to_string(),
                    }
                })?;
            let (bytes, _) = client
                .pull_manifest_raw(&reference(Err(&chosen.digest)), &auth, &ACCEPTED_MANIFESTS)
                .await
                .map_err(|e| registry_error(e.to_string()))?;
            let actual = Digest::of(&bytes);
            if actual != chosen.digest {
                return Err(PullError::Digest {
                    image: image.to_string(),
                    what: "manifest",
                    expected: chosen.digest.to_string(),
                    actual,
                });
            }
            digest = actual;
            document = bytes.to_vec();
        }
        let manifest: Manifest = serde_json::from_slice(&document)
            .map_err(|e| registry_error(format!("manifest: {e}")))?;
        store.write_document(&document).map_err(store_error)?;
        let blob_reference = reference(Err(&digest));
        let total: u64 = manifest.config.size + manifest.layers.iter().map(|l| l.size).sum::<u64>();
        let mut done = 0u64;
        for descriptor in std::iter::once(&manifest.config).chain(&manifest.layers) {
            if !store.has_blob(&descriptor.digest) {
                self.pull_blob(
                    &client,
                    &blob_reference,
                    store,
                    descriptor,
                    progress.map(|p| (p, done, total)),
                    image,
                )
                .await?;
            }
            done += descriptor.size;
            if let Some(report) = progress {
                report(PullProgress {
                    bytes_done: done,
                    bytes_total: total,
                });
            }
        }
        let store_for_commit = store;
        store_for_commit
            .commit_image(image, &digest, &manifest)
            .map_err(store_error)
    }

    async fn pull_blob(
        &self,
        client: &Client,
        reference: &Reference,
        store: &ImageStore,
        descriptor: &Descriptor,
        progress: Option<(&ProgressFn, u64, u64)>,
        image: &ImageRef,
    ) -> Result<(), PullError> {
        let tmp = store.temp_path("pull");
        let io_error = |e: std::io::Error| PullError::Store {
            image: image.to_string(),
            source: super::store::StoreError::Io {
                path: tmp.clone(),
                source: e,
            },
        };
        let file = tokio::fs::File::create(&tmp).await.map_err(io_error)?;
        let mut writer = BlobWriter {
            file,
            hasher: Hasher::new(),
            progress,
        };
        let pulled = client
            .pull_blob(
                reference,
                descriptor.digest.to_string().as_str(),
                &mut writer,
            )
            .await;
        if let Err(e) = pulled {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(PullError::Registry {
                image: image.to_string(),
                endpoint: reference.registry().to_string(),
                message: e.to_string(),
            });
        }
        use tokio::io::AsyncWriteExt;
        writer.file.flush().await.map_err(io_error)?;
        writer.file.sync_all().await.map_err(io_error)?;
        let bytes = writer.hasher.bytes();
        let actual = writer.hasher.finish();
        store
            .commit_temp_blob(&tmp, actual, bytes, Some(&descriptor.digest))
            .map(|_| ())
            .map_err(|source| PullError::Store {
                image: image.to_string(),
                source,
            })
    }
}
