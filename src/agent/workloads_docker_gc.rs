//! The sweep of Docker attachments that Docker no longer knows (a child of `docker_ops`):
//! a container removed while the agent was down leaves its endpoint and addresses here,
//! because Docker's `Leave`, `DeleteEndpoint` and `ReleaseAddress` failed and Docker went
//! on without them. `agent::docker` lists the live endpoints from dockerd's API now and
//! then; an attachment that is neither live nor wired (no veth) in two sweeps in a row is
//! released. Running containers are wired, and the attachments of a container being set
//! up live for milliseconds, so neither is ever taken.

use std::collections::BTreeSet;

use super::*;

impl Workloads {
    /// One sweep: releases what was stale in the last sweep (`suspects`) and still is;
    /// answers the stale keys not released yet (the next sweep's suspects) as
    /// `{"suspects": [...], "released": [...]}`.
    pub(super) fn sweep(
        &mut self,
        live: &BTreeSet<String>,
        suspects: &BTreeSet<String>,
    ) -> DockerAnswer {
        let stale: Vec<AttachmentKey> = self
            .alloc
            .iter()
            .map(|(k, _)| k.clone())
            .filter(|k| is_docker_key(k) && !self.wired.contains(k))
            .filter(|k| {
                k.container_id
                    .strip_prefix("docker-")
                    .is_none_or(|ep| !live.contains(ep))
            })
            .collect();
        let mut released = Vec::new();
        let mut next = Vec::new();
        for key in stale {
            if suspects.contains(&key.container_id) {
                self.alloc.release(&key);
                self.unpersist(&key);
                tracing::info!(attachment = %key, "docker attachment released: unknown to dockerd");
                released.push(key.container_id);
            } else {
                next.push(key.container_id);
            }
        }
        Ok(DockerDone {
            body: json!({ "suspects": next, "released": released }),
            joined: None,
        })
    }
}
