//! A TCP proxy on loopback that can lose one answer: the connection whose request holds a given
//! byte pattern is closed as soon as the server answers it, before the answer reaches the
//! client. For a database statement that commits, the client is then left not knowing whether
//! it did: an unknown commit outcome, produced for real.

use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A running proxy, stopped when dropped.
#[derive(Debug)]
pub struct FaultProxy {
    port: u16,
    armed: Arc<Mutex<Option<Vec<u8>>>>,
    acceptor: JoinHandle<()>,
}

impl FaultProxy {
    /// Proxies `127.0.0.1:<port of the returned proxy>` to `127.0.0.1:target_port`.
    pub async fn start(target_port: u16) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let armed: Arc<Mutex<Option<Vec<u8>>>> = Arc::default();
        let acceptor = tokio::spawn({
            let armed = Arc::clone(&armed);
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    let armed = Arc::clone(&armed);
                    tokio::spawn(async move {
                        if let Ok(server) = TcpStream::connect(("127.0.0.1", target_port)).await {
                            proxy(client, server, armed).await;
                        }
                    });
                }
            }
        });
        Ok(Self {
            port,
            armed,
            acceptor,
        })
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Loses the answer to the next request (on any connection) that contains `pattern`.
    pub fn lose_answer_to(&self, pattern: &[u8]) {
        *self.armed.lock().expect("proxy lock") = Some(pattern.to_vec());
    }

    /// Whether the armed fault has happened.
    pub fn fault_happened(&self) -> bool {
        self.armed.lock().expect("proxy lock").is_none()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.acceptor.abort();
    }
}

async fn proxy(client: TcpStream, server: TcpStream, armed: Arc<Mutex<Option<Vec<u8>>>>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    // Set when this connection sent the armed pattern: its next answer is lost.
    let doomed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let upstream = {
        let doomed = Arc::clone(&doomed);
        async move {
            let mut buffer = vec![0; 64 * 1024];
            loop {
                let Ok(read) = client_read.read(&mut buffer).await else {
                    return;
                };
                if read == 0 {
                    return;
                }
                let chunk = &buffer[..read];
                {
                    let mut armed = armed.lock().expect("proxy lock");
                    if armed
                        .as_deref()
                        .is_some_and(|pattern| contains(chunk, pattern))
                    {
                        *armed = None;
                        doomed.store(true, std::sync::atomic::Ordering::SeqCst);
                    }
                }
                if server_write.write_all(chunk).await.is_err() {
                    return;
                }
            }
        }
    };
    let downstream = async move {
        let mut buffer = vec![0; 64 * 1024];
        loop {
            let Ok(read) = server_read.read(&mut buffer).await else {
                return;
            };
            if read == 0 || doomed.load(std::sync::atomic::Ordering::SeqCst) {
                return;
            }
            if client_write.write_all(&buffer[..read]).await.is_err() {
                return;
            }
        }
    };
    // Whichever side ends first closes both.
    tokio::select! {
        () = upstream => {}
        () = downstream => {}
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|window| window == needle)
}
