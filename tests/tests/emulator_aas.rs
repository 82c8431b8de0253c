//! Application Auto Scaling in the emulator, through the Rust SDK Gantry uses: an ECS service's
//! scalable target keeps its `SuspendedState` field by field, so what a deployment saves before
//! suspending scale-in is exactly what it can restore.

use aws_sdk_applicationautoscaling::types::{ScalableDimension, ServiceNamespace, SuspendedState};
use gantry_tests::{aws::sdk, traffic::Shop, unique};

fn state(scale_in: bool, scale_out: bool, scheduled: bool) -> SuspendedState {
    SuspendedState::builder()
        .dynamic_scaling_in_suspended(scale_in)
        .dynamic_scaling_out_suspended(scale_out)
        .scheduled_scaling_suspended(scheduled)
        .build()
}

#[tokio::test]
async fn a_services_suspended_state_is_saved_suspended_and_restored_exactly() {
    let sdk = sdk().await;
    let shop = Shop::create(&sdk, &unique("aas"), 2).await;
    let aas = aws_sdk_applicationautoscaling::Client::new(&sdk);
    let resource = format!("service/{}/{}", shop.cluster, shop.blue_service);
    let register = || {
        aas.register_scalable_target()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(&resource)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
    };
    let described = || async {
        aas.describe_scalable_targets()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_ids(&resource)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .send()
            .await
            .expect("describe")
            .scalable_targets
            .unwrap_or_default()
    };

    // A new target needs its capacity range, as in AWS.
    assert!(register().send().await.is_err());
    register()
        .min_capacity(2)
        .max_capacity(8)
        .suspended_state(state(false, false, true))
        .send()
        .await
        .expect("register");
    let saved = described().await[0].suspended_state.clone();
    assert_eq!(saved, Some(state(false, false, true)));

    // The deployment suspends scale-in only; the rest stays as the team left it.
    register()
        .suspended_state(
            SuspendedState::builder()
                .dynamic_scaling_in_suspended(true)
                .build(),
        )
        .send()
        .await
        .expect("suspend scale-in");
    let during = &described().await[0];
    assert_eq!(during.suspended_state, Some(state(true, false, true)));
    assert_eq!((during.min_capacity, during.max_capacity), (2, 8));

    register()
        .set_suspended_state(saved.clone())
        .send()
        .await
        .expect("restore");
    assert_eq!(described().await[0].suspended_state, saved);
}
