//! After-the-fact race detection for versioned buckets whose server ignores conditional
//! writes (tenet 5): after a write, the version just below ours must be the one the plan
//! expected. If another device's version sits there instead, its content was buried under
//! ours; pail brings it back as a conflict copy, which the next pass uploads.

use std::sync::Arc;

use anyhow::Result;
use pail_core::RelPath;
use pail_core::plan::{LocalExpect, RemoteExpect};
use pail_s3::ObjectVersion;

use crate::ctx::PairCtx;
use crate::retry::transient;

/// All versions of exactly `key`, newest first.
async fn versions_of(ctx: &PairCtx, key: &str) -> Result<Vec<ObjectVersion>> {
    let mut out = Vec::new();
    let (mut km, mut vm) = (None, None);
    loop {
        let page = transient(|| ctx.store.list_versions_page(key, km.clone(), vm.clone())).await?;
        let past = page.versions.iter().any(|v| v.key.as_str() > key);
        out.extend(page.versions.into_iter().filter(|v| v.key == key));
        if past || page.next_key_marker.is_none() {
            break;
        }
        km = page.next_key_marker;
        vm = page.next_version_id_marker;
    }
    Ok(out)
}

pub(crate) async fn check_after_write(
    ctx: &Arc<PairCtx>,
    path: &RelPath,
    key: &str,
    ours: &str,
    expect: &RemoteExpect,
) -> Result<()> {
    let versions = versions_of(ctx, key).await?;
    let Some(pos) = versions.iter().position(|v| v.version_id == ours) else {
        return Ok(());
    };
    let Some(below) = versions.get(pos + 1) else {
        return Ok(());
    };
    let expected = match expect {
        RemoteExpect::Absent => below.is_delete_marker,
        RemoteExpect::Is(r) => match &r.version_id {
            Some(v) => &below.version_id == v,
            None => below.etag.as_deref() == Some(r.etag.as_str()),
        },
    };
    if expected || below.is_delete_marker {
        return Ok(());
    }
    tracing::warn!(%path, version = %below.version_id, "lost a write race: keeping the other version as a conflict copy");
    crate::download::version_to_conflict_copy(
        ctx,
        path,
        key,
        &below.version_id,
        &LocalExpect::Absent,
    )
    .await
}
