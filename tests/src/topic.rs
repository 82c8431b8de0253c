//! An SNS topic with an SQS queue subscribed, as a subscriber would set it up, and the
//! notifications read back from the queue.

use aws_config::SdkConfig;
use serde_json::Value;
use std::collections::BTreeMap;

/// A topic, and a queue subscribed to it (optionally with a filter policy).
pub struct SubscribedTopic {
    pub arn: String,
    sqs: aws_sdk_sqs::Client,
    queues: Vec<String>,
}

/// One notification as the subscriber received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub subject: Option<String>,
    /// The message as delivered to SQS (the JSON body, with `MessageStructure=json`).
    pub message: String,
    pub attributes: BTreeMap<String, String>,
}

impl Received {
    /// The message parsed as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.message)
            .unwrap_or_else(|e| panic!("SNS message is not JSON ({e}): {}", self.message))
    }
}

/// Creates an SQS queue named `name`; returns its (URL, ARN).
pub async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> (String, String) {
    let url = sqs
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("create queue")
        .queue_url
        .expect("queue url");
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("queue attributes")
        .attributes
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .cloned()
        })
        .expect("queue arn");
    (url, arn)
}

impl SubscribedTopic {
    /// A new topic with one unfiltered queue.
    pub async fn new(sdk: &SdkConfig) -> Self {
        let sns = aws_sdk_sns::Client::new(sdk);
        let arn = sns
            .create_topic()
            .name(crate::unique("gantry-topic"))
            .send()
            .await
            .expect("create topic")
            .topic_arn
            .expect("topic arn");
        let mut topic = Self {
            arn,
            sqs: aws_sdk_sqs::Client::new(sdk),
            queues: vec![],
        };
        topic.subscribe(sdk, None).await;
        topic
    }

    /// Subscribes another queue with `filter_policy` (an SNS filter policy); returns its index
    /// for `received_by`.
    pub async fn subscribe(&mut self, sdk: &SdkConfig, filter_policy: Option<&Value>) -> usize {
        let (url, queue_arn) = create_queue(&self.sqs, &crate::unique("gantry-queue")).await;
        let mut sub = aws_sdk_sns::Client::new(sdk)
            .subscribe()
            .topic_arn(&self.arn)
            .protocol("sqs")
            .endpoint(queue_arn);
        if let Some(p) = filter_policy {
            sub = sub.attributes("FilterPolicy", p.to_string());
        }
        sub.send().await.expect("subscribe");
        self.queues.push(url);
        self.queues.len() - 1
    }

    /// Every notification the unfiltered queue received so far (drains it).
    pub async fn received(&self) -> Vec<Received> {
        self.received_by(0).await
    }

    /// Every notification queue `i` received so far (drains it).
    pub async fn received_by(&self, i: usize) -> Vec<Received> {
        let mut out = vec![];
        loop {
            let batch = self
                .sqs
                .receive_message()
                .queue_url(&self.queues[i])
                .max_number_of_messages(10)
                .send()
                .await
                .expect("receive")
                .messages
                .unwrap_or_default();
            if batch.is_empty() {
                return out;
            }
            for m in batch {
                let envelope: Value =
                    serde_json::from_str(m.body().unwrap_or_default()).expect("SNS envelope");
                let attributes = envelope["MessageAttributes"]
                    .as_object()
                    .map(|a| {
                        a.iter()
                            .map(|(k, v)| {
                                (
                                    k.clone(),
                                    v["Value"].as_str().unwrap_or_default().to_string(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(Received {
                    subject: envelope["Subject"].as_str().map(str::to_string),
                    message: envelope["Message"].as_str().unwrap_or_default().to_string(),
                    attributes,
                });
                self.sqs
                    .delete_message()
                    .queue_url(&self.queues[i])
                    .receipt_handle(m.receipt_handle().unwrap_or_default())
                    .send()
                    .await
                    .expect("delete");
            }
        }
    }
}
