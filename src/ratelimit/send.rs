//! Sends a bounded burst of requests to one target: closed-loop (`concurrency` requests in
//! flight) or open-loop (`rate` per second, each request with an intended send time from which
//! its latency is measured, so a slow server cannot hide its slowness by slowing the sender:
//! no coordinated omission). Stops by itself at the request count or the time limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::headers::{self, RateLimitHeaders};
use crate::checks::http::error_chain;
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
    pub timeout: Duration,
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

pub async fn burst(
    client: &reqwest::Client,
    request: &Request,
    load: &Load,
    progress: Progress,
) -> Run {
    let started = Instant::now();
    let deadline = started + load.max_duration;
    let completed = Arc::new(AtomicU32::new(0));
    let mut samples: Vec<Sample> = Vec::with_capacity(load.requests as usize);
    let mut errors = Vec::new();
    match load.rate {
        None => {
            let next = Arc::new(AtomicU32::new(0));
            let workers: Vec<_> = (0..load.concurrency.max(1))
                .map(|_| {
                    let (client, request, next, completed, progress) = (
                        client.clone(),
                        request.clone(),
                        Arc::clone(&next),
                        Arc::clone(&completed),
                        Arc::clone(&progress),
                    );
                    let total = load.requests;
                    tokio::spawn(async move {
                        let mut mine = Vec::new();
                        let mut errors = Vec::new();
                        loop {
                            if Instant::now() >= deadline {
                                break;
                            }
                            let index = next.fetch_add(1, Ordering::Relaxed);
                            if index >= total {
                                break;
                            }
                            let intended = started.elapsed();
                            let (sample, error) =
                                one(&client, &request, index, intended, started, &completed, &[])
                                    .await;
                            progress.fetch_add(1, Ordering::Relaxed);
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
                    errors.extend(worker_errors);
                }
            }
        }
        Some(rate) => {
            let in_flight = Arc::new(tokio::sync::Semaphore::new(load.concurrency.max(1) as usize));
            let mut tasks = tokio::task::JoinSet::new();
            for index in 0..load.requests {
                let intended = Duration::from_secs_f64(f64::from(index) / rate);
                if started + intended >= deadline {
                    break;
                }
                tokio::time::sleep_until((started + intended).into()).await;
                // Waiting for a free slot counts in the latency: it is measured from `intended`.
                let Ok(permit) = Arc::clone(&in_flight).acquire_owned().await else {
                    break;
                };
                let (client, request, completed, progress) = (
                    client.clone(),
                    request.clone(),
                    Arc::clone(&completed),
                    Arc::clone(&progress),
                );
                tasks.spawn(async move {
                    let result =
                        one(&client, &request, index, intended, started, &completed, &[]).await;
                    progress.fetch_add(1, Ordering::Relaxed);
                    drop(permit);
                    result
                });
            }
            while let Some(joined) = tasks.join_next().await {
                if let Ok((sample, error)) = joined {
                    if let Some(e) = error
                        && errors.len() < ERRORS_KEPT
                    {
                        errors.push(e);
                    }
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
    Run {
        samples,
        errors,
        elapsed: started.elapsed(),
        cut_short,
    }
}

/// What a single extra request (recovery, bypass probe) got back.
#[derive(Clone, Debug)]
pub struct Single {
    pub status: Option<u16>,
    pub headers: RateLimitHeaders,
    pub error: Option<String>,
}

/// One request outside the burst, with headers added (`set`) and removed (`remove`).
pub async fn single(
    client: &reqwest::Client,
    request: &Request,
    set: &[(HeaderName, HeaderValue)],
    remove: Option<&HeaderName>,
) -> Single {
    let mut request = request.clone();
    if let Some(name) = remove {
        request.headers.remove(name);
    }
    let completed = AtomicU32::new(0);
    let (sample, error) = one(
        client,
        &request,
        0,
        Duration::ZERO,
        Instant::now(),
        &completed,
        set,
    )
    .await;
    Single {
        status: sample.status,
        headers: sample.headers.map(|h| *h).unwrap_or_default(),
        error,
    }
}

async fn one(
    client: &reqwest::Client,
    request: &Request,
    index: u32,
    intended: Duration,
    started: Instant,
    completed: &AtomicU32,
    set: &[(HeaderName, HeaderValue)],
) -> (Sample, Option<String>) {
    let mut headers = request.headers.clone();
    // Replaced, not added: a second X-Forwarded-For line would leave the first one in charge.
    for (name, value) in set {
        headers.insert(name, value.clone());
    }
    let mut builder = client
        .request(request.method.clone(), request.url.clone())
        .headers(headers)
        .timeout(request.timeout);
    if let Some(body) = &request.body {
        builder = builder.body(body.clone());
    }
    let result = async {
        let mut response = builder.send().await?;
        let status = response.status().as_u16();
        let parsed = headers::parse(response.headers(), SystemTime::now());
        let mut drained = 0;
        while let Some(chunk) = response.chunk().await? {
            drained += chunk.len();
            if drained > MAX_DRAIN {
                break;
            }
        }
        Ok::<_, reqwest::Error>((status, parsed))
    }
    .await;
    let latency = started.elapsed().saturating_sub(intended);
    let completed = completed.fetch_add(1, Ordering::Relaxed);
    let mut sample = Sample {
        index,
        completed,
        intended,
        status: None,
        latency,
        headers: None,
    };
    match result {
        Ok((status, parsed)) => {
            sample.status = Some(status);
            sample.headers = (!parsed.is_empty()).then(|| Box::new(parsed));
            (sample, None)
        }
        Err(e) => {
            let why = if e.is_timeout() {
                format!("no answer within {}", format_duration(request.timeout))
            } else {
                error_chain(&e.without_url())
            };
            (sample, Some(why))
        }
    }
}
