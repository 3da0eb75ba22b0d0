//! A TCP proxy on loopback that forwards to a real server until the client sends a marker, then
//! freezes: it stops forwarding both ways but keeps every socket open, as a stalled network or a
//! hung middlebox does. The server then sees an idle client, the client a silent server.
//! Dropping the proxy closes every socket, so the server ends the session (and its locks).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct FreezingProxy {
    pub port: u16,
    frozen: Arc<AtomicBool>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl FreezingProxy {
    /// Forwards to `upstream` (`host:port`); freezes once a client packet contains `marker`
    /// (that packet is not forwarded).
    pub fn start(upstream: &str, marker: &'static [u8]) -> FreezingProxy {
        Self::start_at(upstream, marker, 1)
    }

    /// Freezes at the `occurrence`-th client packet holding `marker`, counted over every
    /// connection: the rollback guard sends a down script once to measure it, before running it.
    pub fn start_at(upstream: &str, marker: &'static [u8], occurrence: usize) -> FreezingProxy {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let frozen = Arc::new(AtomicBool::new(false));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let upstream = upstream.to_string();
        let flag = Arc::clone(&frozen);
        let seen = Arc::new(AtomicUsize::new(0));
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("proxy runtime");
            // Dropping the runtime at the end drops every task and so closes every socket.
            rt.block_on(async move {
                let listener = TcpListener::from_std(listener).expect("tokio listener");
                let accept = async {
                    loop {
                        let Ok((client, _)) = listener.accept().await else {
                            continue;
                        };
                        let Ok(server) = TcpStream::connect(&upstream).await else {
                            continue;
                        };
                        let (cr, cw) = client.into_split();
                        let (sr, sw) = server.into_split();
                        let watch = Watch {
                            marker,
                            occurrence,
                            seen: Arc::clone(&seen),
                        };
                        tokio::spawn(pump(cr, sw, Arc::clone(&flag), Some(watch)));
                        tokio::spawn(pump(sr, cw, Arc::clone(&flag), None));
                    }
                };
                tokio::select! {
                    _ = accept => {}
                    _ = stopped => {}
                }
            });
        });
        FreezingProxy {
            port,
            frozen,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn frozen(&self) -> bool {
        self.frozen.load(Ordering::SeqCst)
    }
}

/// What the client side watches for: the marker, and which of its occurrences freezes.
struct Watch {
    marker: &'static [u8],
    occurrence: usize,
    seen: Arc<AtomicUsize>,
}

/// Copies `from` to `to` until EOF; once frozen, reads and drops what comes, keeping both open.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    frozen: Arc<AtomicBool>,
    watch: Option<Watch>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            // A frozen network passes no FIN either: the other side stays open until the proxy
            // is dropped.
            Ok(0) | Err(_) if frozen.load(Ordering::SeqCst) => {
                return std::future::pending().await;
            }
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if let Some(w) = &watch
            && buf[..n].windows(w.marker.len()).any(|x| x == w.marker)
            && w.seen.fetch_add(1, Ordering::SeqCst) + 1 >= w.occurrence
        {
            frozen.store(true, Ordering::SeqCst);
        }
        if frozen.load(Ordering::SeqCst) {
            continue;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

impl Drop for FreezingProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
