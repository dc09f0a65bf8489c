//! The operations: plain SDK calls, `n` in flight, each on its own task so that signing and
//! I/O spread over every core, as a tuned client would run them. Nothing else: no metadata,
//! no conditions, no index, no checks after the fact.

use std::collections::BTreeSet;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use aws_sdk_s3::Client;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use futures::{StreamExt, TryStreamExt, stream};
use tokio::io::AsyncWriteExt;

use crate::target::{S3Url, local_path, parts, rel_key};

/// What an operation moved.
#[derive(Debug, Default)]
pub struct Totals {
    pub objects: u64,
    pub bytes: u64,
}

/// Objects up to this size are read whole and written with one call; larger ones stream.
const WHOLE_BODY_BYTES: u64 = 8 << 20;

fn sdk_err<E: std::error::Error>(what: String) -> impl FnOnce(E) -> anyhow::Error {
    move |e| anyhow!("{what}: {}", DisplayErrorContext(&e))
}

/// Runs `f` on every item, `n` at a time, each on a task of its own.
async fn in_flight<T, R, F, Fut>(items: Vec<T>, n: usize, f: F) -> Result<Vec<R>>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T) -> Fut,
    Fut: Future<Output = Result<R>> + Send + 'static,
{
    stream::iter(items)
        .map(|it| tokio::spawn(f(it)))
        .buffer_unordered(n.max(1))
        .map(|joined| joined.context("a transfer task panicked").and_then(|r| r))
        .try_collect()
        .await
}

/// Every regular file under `dir` (symbolic links are not followed), as (key tail, path).
pub fn walk(dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).with_context(|| format!("reading folder {}", d.display()))? {
            let e = e.with_context(|| format!("reading folder {}", d.display()))?;
            let t = e
                .file_type()
                .with_context(|| format!("{}", e.path().display()))?;
            if t.is_dir() {
                stack.push(e.path());
            } else if t.is_file() {
                out.push((rel_key(dir, &e.path())?, e.path()));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The files named in `list` (paths relative to `dir`, one a line), as (key tail, path).
pub fn named(dir: &Path, list: &Path) -> Result<Vec<(String, PathBuf)>> {
    let text = std::fs::read_to_string(list)
        .with_context(|| format!("reading the list of files {}", list.display()))?;
    let mut out = Vec::new();
    for rel in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let path = local_path(dir, "", rel)
            .with_context(|| format!("{}: line '{rel}'", list.display()))?
            .ok_or_else(|| anyhow!("{}: '{rel}' names a folder", list.display()))?;
        out.push((rel.to_owned(), path));
    }
    Ok(out)
}

/// One PUT per file: the file read whole from disk, then sent.
pub async fn put_files(
    client: &Client,
    url: &S3Url,
    files: Vec<(String, PathBuf)>,
    n: usize,
) -> Result<Totals> {
    let objects = files.len() as u64;
    let sizes = in_flight(files, n, |(rel, path)| {
        let (client, bucket, key) = (client.clone(), url.bucket.clone(), url.key(&rel));
        async move {
            let body = tokio::fs::read(&path)
                .await
                .with_context(|| format!("reading {}", path.display()))?;
            let len = body.len() as u64;
            client
                .put_object()
                .bucket(&bucket)
                .key(&key)
                .body(ByteStream::from(body))
                .send()
                .await
                .map_err(sdk_err(format!("PUT s3://{bucket}/{key}")))?;
            Ok(len)
        }
    })
    .await?;
    Ok(Totals {
        objects,
        bytes: sizes.iter().sum(),
    })
}

/// One file as a multipart upload of `part`-byte parts, `n` parts in flight, each read from
/// disk at its offset just before it is sent; a file of at most one part is one PUT.
pub async fn put_file(
    client: &Client,
    url: &S3Url,
    file: &Path,
    part: u64,
    n: usize,
) -> Result<Totals> {
    let f = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let size = f.metadata()?.len();
    if size <= part {
        // The key is the URL's whole path: put it under an empty prefix.
        let bucket_only = S3Url {
            bucket: url.bucket.clone(),
            prefix: String::new(),
        };
        let files = vec![(url.prefix.clone(), file.to_path_buf())];
        return put_files(client, &bucket_only, files, 1).await;
    }
    let (bucket, key) = (&url.bucket, &url.prefix);
    let created = client
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(sdk_err(format!(
            "CreateMultipartUpload s3://{bucket}/{key}"
        )))?;
    let upload_id = created
        .upload_id()
        .ok_or_else(|| anyhow!("s3://{bucket}/{key}: the server returned no upload id"))?
        .to_owned();
    let f = Arc::new(f);
    let plan: Vec<(i32, u64, u64)> = (1..)
        .zip(parts(size, part))
        .map(|(i, (off, len))| (i, off, len))
        .collect();
    let uploaded = in_flight(plan, n, |(number, off, len)| {
        let (client, f, path) = (client.clone(), f.clone(), file.to_path_buf());
        let (bucket, key, id) = (bucket.clone(), key.clone(), upload_id.clone());
        async move {
            let buf = tokio::task::spawn_blocking(move || {
                let mut buf = vec![0; len as usize];
                f.read_exact_at(&mut buf, off).map(|()| buf)
            })
            .await?
            .with_context(|| format!("reading {} at {off}", path.display()))?;
            let out = client
                .upload_part()
                .bucket(&bucket)
                .key(&key)
                .upload_id(&id)
                .part_number(number)
                .body(ByteStream::from(buf))
                .send()
                .await
                .map_err(sdk_err(format!(
                    "UploadPart {number} of s3://{bucket}/{key}"
                )))?;
            Ok(CompletedPart::builder()
                .part_number(number)
                .set_e_tag(out.e_tag)
                .build())
        }
    })
    .await;
    let mut done = match uploaded {
        Ok(p) => p,
        Err(e) => {
            // Leave no parts behind; the error that matters is the part's.
            let _ = client
                .abort_multipart_upload()
                .bucket(bucket)
                .key(key)
                .upload_id(&upload_id)
                .send()
                .await;
            return Err(e);
        }
    };
    done.sort_by_key(|p| p.part_number());
    client
        .complete_multipart_upload()
        .bucket(bucket)
        .key(key)
        .upload_id(&upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .set_parts(Some(done))
                .build(),
        )
        .send()
        .await
        .map_err(sdk_err(format!(
            "CompleteMultipartUpload s3://{bucket}/{key}"
        )))?;
    Ok(Totals {
        objects: 1,
        bytes: size,
    })
}

/// Every object under the prefix, as (key, size), page by page.
pub async fn list(client: &Client, url: &S3Url) -> Result<Vec<(String, u64)>> {
    let mut pages = client
        .list_objects_v2()
        .bucket(&url.bucket)
        .prefix(url.list_prefix())
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(sdk_err(format!(
            "ListObjectsV2 s3://{}/{}",
            url.bucket,
            url.list_prefix()
        )))?;
        for o in page.contents() {
            let size = o.size().unwrap_or(0).max(0) as u64;
            out.push((o.key().unwrap_or_default().to_owned(), size));
        }
    }
    Ok(out)
}

/// Lists the prefix, then GETs every object into a file under `dir`.
pub async fn get_prefix(client: &Client, url: &S3Url, dir: &Path, n: usize) -> Result<Totals> {
    let lp = url.list_prefix();
    let mut todo = Vec::new();
    for (key, size) in list(client, url).await? {
        if let Some(path) = local_path(dir, &lp, &key)? {
            todo.push((key, size, path));
        }
    }
    // Each folder once, before the transfers, rather than a create_dir_all per file.
    let folders: BTreeSet<&Path> = todo.iter().filter_map(|t| t.2.parent()).collect();
    for d in folders {
        std::fs::create_dir_all(d).with_context(|| format!("creating folder {}", d.display()))?;
    }
    let objects = todo.len() as u64;
    let sizes = in_flight(todo, n, |(key, size, path)| {
        let (client, bucket) = (client.clone(), url.bucket.clone());
        async move {
            let what = format!("GET s3://{bucket}/{key}");
            let resp = client
                .get_object()
                .bucket(&bucket)
                .key(&key)
                .send()
                .await
                .map_err(sdk_err(what.clone()))?;
            let write = || format!("writing {}", path.display());
            if size <= WHOLE_BODY_BYTES {
                let data = resp.body.collect().await.map_err(sdk_err(what))?;
                let data = data.into_bytes();
                let len = data.len() as u64;
                tokio::fs::write(&path, data).await.with_context(write)?;
                return Ok(len);
            }
            let mut f = tokio::fs::File::create(&path).await.with_context(write)?;
            let mut body = resp.body;
            let mut len = 0;
            while let Some(chunk) = body.try_next().await.map_err(sdk_err(what.clone()))? {
                f.write_all(&chunk).await.with_context(write)?;
                len += chunk.len() as u64;
            }
            f.flush().await.with_context(write)?;
            Ok(len)
        }
    })
    .await?;
    Ok(Totals {
        objects,
        bytes: sizes.iter().sum(),
    })
}
