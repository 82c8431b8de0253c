//! The same work delivered twice: a repeated invocation, one event delivered twice at once,
//! two copies of one job event racing to start it.

use super::*;

#[tokio::test]
async fn a_repeated_invocation_changes_nothing_twice() {
    let rig = rig().await;
    let shop = &rig.shop;
    let first = start(&rig, canary(8)).await;
    // The first invocation starts green and shifts 10%, then hands over; so does the second.
    invoke(&*rig.shifter, &first["event"]).await;
    assert_eq!(shop.green_shares(false).await, vec![10]);
    let second = next_job(&first).await;
    invoke(&*rig.shifter, &second["event"]).await;
    let third = next_job(&second).await;
    assert!(third.is_object(), "still baking: handed over again");

    // Lambda delivers the first and second events again.
    assert_eq!(
        invoke(&*rig.shifter, &first["event"]).await["outcome"],
        "already_finished"
    );
    assert_eq!(
        invoke(&*rig.shifter, &second["event"]).await["outcome"],
        "already_finished"
    );
    assert_eq!(
        shop.green_shares(false).await,
        vec![10],
        "nothing moved again"
    );
    let (green_td, _) = shop.service(&shop.green_service).await;

    let views = run_to_end(&rig.shifter, &third).await;
    assert_eq!(status(&views), "Succeeded");
    assert_eq!(shop.green_shares(false).await, vec![10, 100]);
    assert_eq!(
        shop.service(&shop.green_service).await.0,
        green_td,
        "no second revision"
    );
    assert_one_result_accepted(id(&second), "reported once").await;
}

#[tokio::test]
async fn the_same_event_delivered_twice_at_once_drives_once() {
    let rig = rig().await;
    let shop = &rig.shop;
    let first = start(&rig, canary(2)).await;
    let twin = |rig: &Rig| {
        let (shifter, event) = (rig.shifter.clone(), first["event"].clone());
        tokio::spawn(async move { traffic_shifter::handle(&*shifter, lambda_event(&event)).await })
    };
    let (a, b) = (twin(&rig), twin(&rig));
    let outcomes: Vec<String> = [a.await.unwrap(), b.await.unwrap()]
        .into_iter()
        .map(|r| match r {
            Ok(v) => v["outcome"].as_str().unwrap_or_default().to_string(),
            Err(_) => "error (Lambda retries)".to_string(),
        })
        .collect();
    assert_eq!(
        outcomes.iter().filter(|o| *o == "continued").count(),
        1,
        "exactly one drove: {outcomes:?}"
    );
    let next = next_job(&first).await;
    let views = run_to_end(&rig.shifter, &next).await;
    assert_eq!(status(&views), "Succeeded", "{}", outcome(&views));
    assert_eq!(
        shop.green_shares(false).await,
        vec![10, 100],
        "each weight set once, no rollback"
    );
    assert_one_result_accepted(id(&first), "the first job got one result").await;
}

/// The real cluster, counting the writes that start a deployment: task definitions registered,
/// and services updated to one. Registering takes half a second more, as a slow ECS would,
/// so that two copies of one event are both past their reads before either writes.
struct CountedStart<C> {
    cluster: C,
    registered: Arc<std::sync::atomic::AtomicUsize>,
    updated: Arc<std::sync::atomic::AtomicUsize>,
}

impl<C: gantry_core::traffic::Cluster + Sync> gantry_core::traffic::Cluster for CountedStart<C> {
    async fn service(
        &self,
        cluster: &str,
        name: &str,
    ) -> Result<Option<gantry_core::traffic::ServiceStatus>, ShiftError> {
        self.cluster.service(cluster, name).await
    }

    async fn task_definition(
        &self,
        arn: &str,
    ) -> Result<gantry_core::traffic::TaskDefinitionInfo, ShiftError> {
        self.cluster.task_definition(arn).await
    }

    async fn register_with_images(
        &self,
        arn: &str,
        updates: &[gantry_core::traffic::setup::images::ImageUpdate],
    ) -> Result<String, ShiftError> {
        tokio::time::sleep(Duration::from_millis(500)).await;
        self.registered
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.cluster.register_with_images(arn, updates).await
    }

    async fn update_service(
        &self,
        cluster: &str,
        name: &str,
        task_definition: Option<&str>,
        desired: i32,
    ) -> Result<(), ShiftError> {
        if task_definition.is_some() {
            self.updated
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        self.cluster
            .update_service(cluster, name, task_definition, desired)
            .await
    }
}

/// The revisions of the shop's task definition family ECS holds.
async fn revisions(shop: &Shop) -> Vec<String> {
    let listed = aws_sdk_ecs::Client::new(&shop.sdk)
        .list_task_definitions()
        .family_prefix(&shop.name)
        .send()
        .await
        .expect("task definitions");
    let family = format!("task-definition/{}:", shop.name);
    listed
        .task_definition_arns
        .unwrap_or_default()
        .into_iter()
        .filter(|arn| arn.contains(&family))
        .collect()
}

#[tokio::test]
async fn two_copies_of_one_job_event_at_once_register_one_revision_and_deploy_once() {
    let rig = rig().await;
    let shop = &rig.shop;
    let s = &*rig.shifter;
    let (registered, updated) = (Arc::default(), Arc::default());
    let counted = Arc::new(with_stand_ins(
        s,
        CountedStart {
            cluster: s.cluster.clone(),
            registered: Arc::clone(&registered),
            updated: Arc::clone(&updated),
        },
        s.balancer.clone(),
        s.hooks.clone(),
        s.slice,
    ));
    assert_eq!(revisions(shop).await.len(), 1, "the shop's first revision");
    let first = start(&rig, canary(2)).await;
    let copy = || {
        let (shifter, event) = (counted.clone(), first["event"].clone());
        tokio::spawn(async move {
            // The copy that loses may fail its invocation (Lambda retries it): it wrote nothing.
            let _ = traffic_shifter::handle(&*shifter, lambda_event(&event)).await;
        })
    };
    let (a, b) = (copy(), copy());
    let ((), ()) = (a.await.unwrap(), b.await.unwrap());
    let count =
        |n: &Arc<std::sync::atomic::AtomicUsize>| n.load(std::sync::atomic::Ordering::SeqCst);
    assert_eq!(count(&registered), 1, "one task definition registered");
    assert_eq!(count(&updated), 1, "green updated once");
    assert_eq!(revisions(shop).await.len(), 2, "no stray revision");

    let next = next_job(&first).await;
    if next.is_object() {
        let views = run_to_end(&rig.shifter, &next).await;
        assert_eq!(status(&views), "Succeeded", "{}", outcome(&views));
    }
    let (green_td, _) = shop.service(&shop.green_service).await;
    assert_eq!(revisions(shop).await.len(), 2);
    assert!(revisions(shop).await.contains(&green_td), "green runs it");
    assert_eq!(shop.green_shares(false).await, vec![10, 100]);
    assert_one_result_accepted(id(&first), "the first job got one result").await;
}
