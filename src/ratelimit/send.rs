//! Sends a bounded burst of requests to one target: closed-loop (`concurrency` requests in
//! flight, each sender keeping its connection) or open-loop (`rate` per second, each request
//! with an intended send time from which its latency is measured, so a slow server cannot hide
//! its slowness by slowing the sender: no coordinated omission). Stops by itself at the request
//! count or the time limit.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::conn::{Endpoint, EndpointError, Sender};
use super::headers::{self, RateLimitHeaders};
use crate::units::format_duration;

/// Response bodies are drained (so connections are reused) up to this size.
const MAX_DRAIN: usize = 1024 * 1024;
/// Transport errors kept verbatim; the rest are counted.
const ERRORS_KEPT: usize = 5;

/// The request every send repeats.
#[derive(Clone)]
pub struct Request {
    pub method: reqwest::Method,
    pub url: reqwest::Url,
    pub headers: HeaderMap,
    /// Cheap to clone for every request.
    pub body: Option<bytes::Bytes>,
    /// For each request, connecting included.
    pub timeout: Duration,
    /// Extra trusted CA certificates (PEM) for https.
    pub ca_file: Option<std::path::PathBuf>,
}

/// How many, how fast, for how long.
#[derive(Clone, Debug)]
pub struct Load {
    pub requests: u32,
    /// Requests in flight at most.
    pub concurrency: u32,
    /// Requests per second (open loop); `None`: as fast as `concurrency` allows.
    pub rate: Option<f64>,
    pub max_duration: Duration,
}

/// One response (or transport failure).
#[derive(Clone, Debug)]
pub struct Sample {
    /// Send order.
    pub index: u32,
    /// Completion order.
    pub completed: u32,
    /// When it was meant to be sent, from the start of the burst.
    pub intended: Duration,
    /// `None`: no response (refused, reset, timed out).
    pub status: Option<u16>,
    /// From the intended send time to the end of the response.
    pub latency: Duration,
    /// Present when the response carried any rate-limit header.
    pub headers: Option<Box<RateLimitHeaders>>,
}

/// What a burst produced.
pub struct Run {
    /// In send order.
    pub samples: Vec<Sample>,
    pub errors: Vec<String>,
    pub elapsed: Duration,
    /// Why fewer requests than planned were sent.
    pub cut_short: Option<String>,
}

/// Counts progress for a progress bar; the sender knows nothing of terminals.
pub type Progress = Arc<AtomicU32>;

/// What every request of a burst shares.
struct Shared {
    endpoint: Endpoint,
    request: Request,
    /// `Host`, `User-Agent` and the request's own headers, ready to clone.
    headers: HeaderMap,
    started: Instant,
    completed: AtomicU32,
    progress: Progress,
}

impl Shared {
    /// One request, on `conn` or a new connection; the connection back when reusable.
    async fn send(
        &self,
        conn: Option<Sender>,
        index: u32,
        intended: Duration,
        headers: &HeaderMap,
    ) -> (Sample, Option<String>, Option<Sender>) {
        let exchange = async {
            let sender = self.endpoint.ready(conn).await?;
            self.endpoint
                .exchange(
                    sender,
                    &self.request.method,
                    headers,
                    self.request.body.as_ref(),
                    MAX_DRAIN,
                )
                .await
        };
        let result = tokio::time::timeout(self.request.timeout, exchange).await;
        let latency = self.started.elapsed().saturating_sub(intended);
        let completed = self.completed.fetch_add(1, Ordering::Relaxed);
        self.progress.fetch_add(1, Ordering::Relaxed);
        let mut sample = Sample {
            index,
            completed,
            intended,
            status: None,
            latency,
            headers: None,
        };
        match result {
            Ok(Ok((status, response_headers, conn))) => {
                let parsed = headers::parse(&response_headers, SystemTime::now());
                sample.status = Some(status);
                sample.headers = (!parsed.is_empty()).then(|| Box::new(parsed));
                (sample, None, conn)
            }
            Ok(Err(why)) => (sample, Some(why.to_string()), None),
            Err(_) => (
                sample,
                Some(format!(
                    "no answer within {}",
                    format_duration(self.request.timeout)
                )),
                None,
            ),
        }
    }
}

pub async fn burst(
    request: &Request,
    load: &Load,
    progress: Progress,
) -> Result<Run, EndpointError> {
    let started = Instant::now();
    let deadline = started + load.max_duration;
    let endpoint = Endpoint::new(&request.url, request.ca_file.as_deref())?;
    let shared = Arc::new(Shared {
        headers: endpoint.headers(&request.headers),
        endpoint,
        request: request.clone(),
        started,
        completed: AtomicU32::new(0),
        progress,
    });
    // Grown as answers come: a large `requests` must not reserve its memory up front.
    let mut samples: Vec<Sample> = Vec::with_capacity(load.requests.min(65_536) as usize);
    let mut errors = Vec::new();
    let keep = |error: Option<String>, errors: &mut Vec<String>| {
        if let Some(e) = error
            && errors.len() < ERRORS_KEPT
        {
            errors.push(e);
        }
    };
    match load.rate {
        None => {
            let next = Arc::new(AtomicU32::new(0));
            let total = load.requests;
            let workers: Vec<_> = (0..load.concurrency.max(1))
                .map(|_| {
                    let (shared, next) = (Arc::clone(&shared), Arc::clone(&next));
                    tokio::spawn(async move {
                        let (mut mine, mut errors) = (Vec::new(), Vec::new());
                        let mut conn = None;
                        while Instant::now() < deadline {
                            let index = next.fetch_add(1, Ordering::Relaxed);
                            if index >= total {
                                break;
                            }
                            let intended = shared.started.elapsed();
                            let (sample, error, back) = shared
                                .send(conn.take(), index, intended, &shared.headers)
                                .await;
                            conn = back;
                            if let Some(e) = error
                                && errors.len() < ERRORS_KEPT
                            {
                                errors.push(e);
                            }
                            mine.push(sample);
                        }
                        (mine, errors)
                    })
                })
                .collect();
            for worker in workers {
                if let Ok((mine, worker_errors)) = worker.await {
                    samples.extend(mine);
                    for e in worker_errors {
                        keep(Some(e), &mut errors);
                    }
                }
            }
        }
        Some(rate) => {
            // Connections idle between requests, shared by the tasks of the open loop.
            let idle: Arc<Mutex<Vec<Sender>>> = Arc::default();
            let in_flight = Arc::new(tokio::sync::Semaphore::new(load.concurrency.max(1) as usize));
            let mut tasks = tokio::task::JoinSet::new();
            for index in 0..load.requests {
                let Ok(intended) = Duration::try_from_secs_f64(f64::from(index) / rate) else {
                    break;
                };
                if intended >= load.max_duration {
                    break;
                }
                tokio::time::sleep_until((started + intended).into()).await;
                // Waiting for a free slot counts in the latency: it is measured from `intended`.
                let Ok(permit) = Arc::clone(&in_flight).acquire_owned().await else {
                    break;
                };
                if Instant::now() >= deadline {
                    break;
                }
                let (shared, idle) = (Arc::clone(&shared), Arc::clone(&idle));
                tasks.spawn(async move {
                    let conn = idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
                    let (sample, error, back) =
                        shared.send(conn, index, intended, &shared.headers).await;
                    if let Some(conn) = back {
                        idle.lock().unwrap_or_else(|e| e.into_inner()).push(conn);
                    }
                    drop(permit);
                    (sample, error)
                });
            }
            while let Some(joined) = tasks.join_next().await {
                if let Ok((sample, error)) = joined {
                    keep(error, &mut errors);
                    samples.push(sample);
                }
            }
        }
    }
    samples.sort_by_key(|s| s.index);
    let cut_short = (samples.len() < load.requests as usize).then(|| {
        format!(
            "stopped after {} of {} requests: the time limit of {} was reached",
            samples.len(),
            load.requests,
            format_duration(load.max_duration)
        )
    });
    Ok(Run {
        samples,
        errors,
        elapsed: started.elapsed(),
        cut_short,
    })
}

/// What a single extra request (recovery, bypass probe) got back.
#[derive(Clone, Debug)]
pub struct Single {
    pub status: Option<u16>,
    pub headers: RateLimitHeaders,
    pub error: Option<String>,
}

/// One request outside the burst, on a connection of its own, with headers replaced (`set`) and
/// removed (`remove`).
pub async fn single(
    request: &Request,
    set: &[(HeaderName, HeaderValue)],
    remove: Option<&HeaderName>,
) -> Single {
    let endpoint = match Endpoint::new(&request.url, request.ca_file.as_deref()) {
        Ok(e) => e,
        Err(why) => {
            return Single {
                status: None,
                headers: RateLimitHeaders::default(),
                error: Some(why.to_string()),
            };
        }
    };
    let mut headers = request.headers.clone();
    if let Some(name) = remove {
        headers.remove(name);
    }
    // Replaced, not added: a second X-Forwarded-For line would leave the first one in charge.
    for (name, value) in set {
        headers.insert(name, value.clone());
    }
    let shared = Shared {
        headers: endpoint.headers(&headers),
        endpoint,
        request: request.clone(),
        started: Instant::now(),
        completed: AtomicU32::new(0),
        progress: Progress::default(),
    };
    let (sample, error, _) = shared.send(None, 0, Duration::ZERO, &shared.headers).await;
    Single {
        status: sample.status,
        headers: sample.headers.map(|h| *h).unwrap_or_default(),
        error,
    }
}
