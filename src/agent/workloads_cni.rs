//! The CNI verbs on the workload task's state (a child of `workloads`): ADD, DEL,
//! CHECK, GC and STATUS, each answered with the CNI result or error the runtime gets.
//! The order of ADD's steps and how each is undone are in the parent's module doc.

use super::*;

impl Workloads {
    pub(super) async fn cni(&mut self, call: CniCall) -> CniReply {
        match call.command.as_str() {
            "ADD" => self.add(call).await,
            "DEL" => self.del(call).await,
            "CHECK" => self.check(call).await,
            "GC" => self.gc(call).await,
            "STATUS" => {
                if self.alloc.blocks().is_empty() {
                    err(code::NOT_AVAILABLE, "this node has no address block")
                } else {
                    CniReply::Ok(None)
                }
            }
            other => err(code::INVALID_ENV, format!("unknown CNI_COMMAND {other:?}")),
        }
    }

    async fn add(&mut self, call: CniCall) -> CniReply {
        let key = match AttachmentKey::new(call.container_id.clone(), call.ifname.clone()) {
            Ok(k) => k,
            Err(e) => return err(code::INVALID_ENV, e.to_string()),
        };
        if !std::path::Path::new(&call.netns).exists() {
            return err(
                code::UNKNOWN_CONTAINER,
                format!("network namespace {} does not exist", call.netns),
            );
        }
        let fresh = self.alloc.get(&key).is_none();
        if !fresh {
            let a = self.alloc.get(&key).cloned().unwrap_or_default();
            if a.attachment.netns == call.netns && self.wired.contains(&key) {
                let spec = spec_of(&key, &a);
                let missing = blocking(move || controller::check_workload_veth(&spec)).await;
                if matches!(missing, Ok(Ok(ref m)) if m.is_empty()) {
                    let mac = net::mac_text(&net::container_mac(&key));
                    return CniReply::Ok(Some(net::add_result(&key, &a, &mac)));
                }
            }
        }
        let attachment = ipam::Attachment {
            netns: call.netns.clone(),
            host_ifname: net::host_ifname(&key),
            namespace: call.namespace.clone(),
            name: call.name.clone(),
            labels: call.labels.clone(),
            extra: serde_json::Value::Null,
        };
        let alloc = if fresh {
            match self.allocate(&key, &ipam::Request::new(attachment)).await {
                Ok(a) => a,
                Err(e @ IpamError::Exhausted { .. }) => {
                    return err(code::TRY_AGAIN_LATER, e.to_string())
                }
                Err(e) => return err(code::INVALID_CONFIG, e.to_string()),
            }
        } else {
            match self.alloc.set_attachment(&key, attachment) {
                Ok(a) => a.clone(),
                Err(e) => return err(code::IO_FAILURE, e.to_string()),
            }
        };
        if let Err(e) = self
            .store()
            .and_then(|s| s.put(&key, &alloc).map_err(|e| e.to_string()))
        {
            if fresh {
                self.alloc.release(&key);
            }
            return err(code::IO_FAILURE, format!("stateDir: {e}"));
        }
        let spec = spec_of(&key, &alloc);
        let made = blocking(move || controller::create_workload_veth(&spec)).await;
        let mac = match made {
            Ok(Ok(m)) => m.container_mac,
            Ok(Err(e)) => {
                self.forget(&key, fresh);
                if !fresh {
                    let _ = self.publish(&[]).await;
                }
                let c = match e {
                    controller::VethError::NoNetns { .. } => code::UNKNOWN_CONTAINER,
                    controller::VethError::Exists(_) => code::INVALID_CONFIG,
                    _ => code::IO_FAILURE,
                };
                return err(c, e.to_string());
            }
            Err(e) => {
                self.forget(&key, fresh);
                return err(code::IO_FAILURE, e);
            }
        };
        self.wired.insert(key.clone());
        if let Err(e) = self.publish(&net::prefixes(&alloc)).await {
            self.unwire(&key).await;
            self.forget(&key, fresh);
            let _ = self.publish(&[]).await;
            return err(code::IO_FAILURE, e);
        }
        tracing::info!(
            attachment = %key,
            interface = %alloc.attachment.host_ifname,
            addresses = ?net::prefixes(&alloc),
            "workload added"
        );
        CniReply::Ok(Some(net::add_result(&key, &alloc, &mac)))
    }

    /// Undoes the allocation of a failed ADD (a re-ADD keeps its addresses, but its
    /// interface is gone, so it is no longer routed or under policy).
    async fn del(&mut self, call: CniCall) -> CniReply {
        // A key the spec does not allow cannot have been added: nothing to do.
        let Ok(key) = AttachmentKey::new(call.container_id.clone(), call.ifname.clone()) else {
            return CniReply::Ok(None);
        };
        let t0 = std::time::Instant::now();
        // The route and the policy entry go first, while the interface still exists (the
        // kernel would otherwise drop the route itself, behind the controller's back).
        if self.wired.remove(&key) {
            if let Err(e) = self.publish(&[]).await {
                tracing::warn!("DEL {key}: {e}");
            }
        }
        let t1 = t0.elapsed();
        self.unwire(&key).await;
        let t2 = t0.elapsed();
        if self.alloc.release(&key).is_some() {
            if let Err(e) = self
                .store()
                .and_then(|s| s.remove(&key).map_err(|e| e.to_string()))
            {
                return err(code::IO_FAILURE, format!("stateDir: {e}"));
            }
            tracing::info!(attachment = %key, "workload deleted");
        }
        tracing::debug!(attachment = %key, unroute = ?t1, unwire = ?(t2 - t1), forget = ?(t0.elapsed() - t2), "DEL");
        CniReply::Ok(None)
    }

    async fn check(&mut self, call: CniCall) -> CniReply {
        let key = match AttachmentKey::new(call.container_id.clone(), call.ifname.clone()) {
            Ok(k) => k,
            Err(e) => return err(code::INVALID_ENV, e.to_string()),
        };
        let Some(a) = self.alloc.get(&key).cloned() else {
            return err(
                code::UNKNOWN_CONTAINER,
                format!("no attachment {key} on this node"),
            );
        };
        let spec = spec_of(&key, &a);
        let mut missing = match blocking(move || controller::check_workload_veth(&spec)).await {
            Ok(Ok(m)) => m,
            Ok(Err(controller::VethError::NoNetns { path, source })) => {
                return err(
                    code::UNKNOWN_CONTAINER,
                    format!("network namespace {}: {source}", path.display()),
                )
            }
            Ok(Err(e)) => return err(code::IO_FAILURE, e.to_string()),
            Err(e) => return err(code::IO_FAILURE, e),
        };
        if let Some(fib) = &self.fib {
            for p in net::prefixes(&a) {
                match fib.route_status(p).await {
                    Ok(Some(s)) if s.state == RouteState::Installed => {}
                    Ok(_) => missing.push(format!(
                        "route {p} dev {} is not installed",
                        a.attachment.host_ifname
                    )),
                    Err(e) => missing.push(format!("route {p}: {e}")),
                }
            }
        }
        if missing.is_empty() {
            CniReply::Ok(None)
        } else {
            CniReply::Err(
                CniError::new(
                    code::IO_FAILURE,
                    format!("CHECK {key}: {}", missing.join("; ")),
                )
                .details(missing.join("\n")),
            )
        }
    }

    async fn gc(&mut self, call: CniCall) -> CniReply {
        let Some(valid) = call.valid_attachments else {
            return err(code::INVALID_CONFIG, "GC without cni.dev/valid-attachments");
        };
        let keep: BTreeSet<(String, String)> = valid
            .into_iter()
            .map(|v| (v.container_id, v.ifname))
            .collect();
        let gone: Vec<AttachmentKey> = self
            .alloc
            .iter()
            .map(|(k, _)| k.clone())
            .filter(|k| !keep.contains(&(k.container_id.clone(), k.ifname.clone())))
            .filter(|k| !docker_ops::is_docker_key(k))
            .collect();
        for key in &gone {
            self.unwire(key).await;
        }
        for (key, _) in self.alloc.gc(|k| {
            docker_ops::is_docker_key(k)
                || keep.contains(&(k.container_id.clone(), k.ifname.clone()))
        }) {
            if let Err(e) = self
                .store()
                .and_then(|s| s.remove(&key).map_err(|e| e.to_string()))
            {
                tracing::warn!("stateDir: {e}");
            }
            tracing::info!(attachment = %key, "workload collected (GC)");
        }
        if let Err(e) = self.publish(&[]).await {
            tracing::warn!("GC: {e}");
        }
        CniReply::Ok(None)
    }
}
