//! The invocation's start step: a first job's deployment begun (pre-flight, images, the
//! plan and the idle side's task definition), or a continuation's resumed from its token.

use super::{Shifter, ShifterPorts};
use crate::clock::now_epoch_millis as now_ms;
use crate::traffic::checks::preflight;
use crate::traffic::phases::record::{DeploymentRecord, DeploymentStatus};
use crate::traffic::setup::images::{self, ImageError, ImageUpdate};
use crate::traffic::{
    AlarmWatch, ArtifactStore, Cluster, Deployment, DeploymentStore, InputArtifact, Job,
    LoadBalancer, Phase, ServiceSnapshot, ShiftError, Timing, TokenError, TrafficPlan,
    UserParameters,
};

impl<P: ShifterPorts> Shifter<P> {
    pub(super) async fn resume(
        &self,
        token: &str,
    ) -> Result<(Deployment, Option<DeploymentRecord>), ShiftError> {
        let d = Deployment::from_token(token)?;
        // The token is checked against the deployment kept server-side: a token that names
        // another rollback target, or a deployment never recorded, moves nothing. A table
        // that cannot be read fails the invocation (Lambda retries it).
        let record = self
            .store
            .read(&d.id)
            .await?
            .ok_or_else(|| TokenError::Tampered {
                reason: format!("no deployment {} was recorded", d.id),
            })?;
        d.matches_start(&Deployment::from_token(&record.state)?)?;
        d.check_handed_over(token, record.handed_over.as_ref())?;
        let record = Some(record);
        Ok((d, record))
    }

    /// The first invocation: checks everything, then brings the new version up on the idle
    /// side. Nothing moves until every check has passed.
    pub(super) async fn begin(
        &self,
        job: &Job,
        p: &UserParameters,
        context: &crate::traffic::PipelineContext,
    ) -> Result<(Deployment, Option<DeploymentRecord>), ShiftError> {
        if let Some(record) = self.store.read(&job.id).await? {
            // A repeated first invocation: what the first one decided stands.
            let d = Deployment::from_token(&record.state)?;
            self.finish_start(p, &d, &record).await?;
            return Ok((d, Some(record)));
        }
        // Fetch: everything the pre-flight decision reads, at once.
        let (forward, sticky, blue, green, alarms) = tokio::join!(
            self.balancer.forward(&p.traffic),
            self.balancer.sticky(&p.traffic),
            self.cluster.service(&p.cluster, &p.blue.service),
            self.cluster.service(&p.cluster, &p.green.service),
            self.alarms.states(&p.alarms),
        );
        let facts = preflight::Facts {
            forward: forward?,
            sticky: sticky?,
            blue: blue?,
            green: green?,
            alarms: alarms?,
        };
        // Decide.
        let start = preflight::decide(p, &facts)?;
        let (live, idle) = (start.live, start.idle());
        let (live_service, idle_service) = (&start.live_service, &start.idle_service);
        // Apply: the new task definition (nothing has moved yet), then the record, then ECS.
        self.balancer
            .target_health(&p.side(idle).target_group_arn)
            .await?;
        let current = self
            .cluster
            .task_definition(&idle_service.task_definition)
            .await?;
        let names: Vec<String> = current.containers.iter().map(|(n, _)| n.clone()).collect();
        let updates = self.image_updates(job, p, &names, &current.arn).await?;
        let task_definition = if preflight::already_runs(&current, &updates) {
            current.arn.clone()
        } else {
            self.cluster
                .register_with_images(&current.arn, &updates)
                .await?
        };
        let now = now_ms();
        let mut d = Deployment::new(
            &job.id,
            live,
            &task_definition,
            live_service.desired,
            ServiceSnapshot {
                task_definition: idle_service.task_definition.clone(),
                desired: idle_service.desired,
            },
            TrafficPlan::new(p.strategy),
            Timing {
                check_seconds: p.check_interval_seconds,
                scale_down_after_seconds: p.scale_down_after_seconds,
                ready_timeout_seconds: p.ready_timeout_seconds,
            },
            now,
        );
        d.live_task_definition = live_service.task_definition.clone();
        let d = self.with_lifecycle(p, d, now).await?;
        let record = self
            .store
            .open(&job.id, Some(context), &d.to_token()?, now / 1000)
            .await?;
        let d = Deployment::from_token(&record.state)?;
        self.suspend_scale_in(p, &d).await;
        if !Self::before_scale_up(&d) {
            let started = self
                .cluster
                .update_service(
                    &p.cluster,
                    &p.side(idle).service,
                    Some(&d.task_definition),
                    d.desired,
                )
                .await;
            if let Err(e) = started {
                self.restore_scaling(p, &d).await;
                return Err(e);
            }
        }
        tracing::info!(
            deployment = %d.id,
            live = %live,
            idle = %idle,
            task_definition = %d.task_definition,
            desired = d.desired,
            strategy = %p.strategy,
            images = ?updates.iter().map(|u| format!("{}={}", u.container, u.image)).collect::<Vec<_>>(),
            "deployment started"
        );
        Ok((d, Some(record)))
    }

    /// The first invocation may have died between recording the deployment and updating the
    /// idle service: if the service still runs what it ran before, update it now (the same
    /// update, so a twin doing it too is harmless) rather than roll back later with "service
    /// changed outside this deployment".
    pub(super) async fn finish_start(
        &self,
        p: &UserParameters,
        d: &Deployment,
        record: &DeploymentRecord,
    ) -> Result<(), ShiftError> {
        let stabilizing = matches!(d.phase, Phase::Stabilizing { .. });
        if record.status != DeploymentStatus::InProgress || !stabilizing {
            return Ok(());
        }
        self.suspend_scale_in(p, d).await;
        if Self::before_scale_up(d) {
            return Ok(());
        }
        let idle = p.side(d.new_side());
        let Some(service) = self.cluster.service(&p.cluster, &idle.service).await? else {
            return Ok(());
        };
        if service.task_definition == d.idle_before.task_definition
            && service.task_definition != d.task_definition
        {
            tracing::warn!(deployment = %d.id, "the deployment was recorded but the service not updated: updating it now");
            self.cluster
                .update_service(
                    &p.cluster,
                    &idle.service,
                    Some(&d.task_definition),
                    d.desired,
                )
                .await?;
        }
        Ok(())
    }

    pub(super) async fn image_updates(
        &self,
        job: &Job,
        p: &UserParameters,
        containers: &[String],
        task_definition: &str,
    ) -> Result<Vec<ImageUpdate>, ShiftError> {
        if let Some(image) = &p.image {
            return Ok(images::from_params(
                image,
                p.container.as_deref(),
                containers,
                task_definition,
            )?);
        }
        let mut last: Option<ImageError> = None;
        for artifact in &job.input_artifacts {
            match self.definitions(job, artifact).await {
                Ok(file) => {
                    return Ok(images::from_definitions(
                        &file,
                        &artifact.name,
                        p.container.as_deref(),
                        containers,
                        task_definition,
                    )?)
                }
                Err(ShiftError::Image(e)) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or(ImageError::NoImage).into())
    }

    pub(super) async fn definitions(
        &self,
        job: &Job,
        artifact: &InputArtifact,
    ) -> Result<Vec<u8>, ShiftError> {
        let bytes = self
            .artifacts
            .fetch(artifact, job.credentials.as_ref())
            .await?;
        Ok(images::definitions_file(&artifact.name, &bytes)?)
    }
}
