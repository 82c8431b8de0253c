//! `Topic` on SNS: one `Publish` per notification, `MessageStructure=json` so email gets the text
//! and machines get the JSON body.

use aws_sdk_sns::types::MessageAttributeValue;
use gantry_core::notify::sns::SnsNotification;
use gantry_core::notify::{PublishError, Topic};

/// The Gantry topic (`GANTRY_TOPIC_ARN`).
#[derive(Debug, Clone)]
pub struct SnsTopic {
    pub client: aws_sdk_sns::Client,
    pub arn: String,
}

impl Topic for SnsTopic {
    async fn publish(&self, n: &SnsNotification) -> Result<(), PublishError> {
        let error = |reason: String| PublishError {
            topic: self.arn.clone(),
            reason,
        };
        let mut request = self
            .client
            .publish()
            .topic_arn(&self.arn)
            .subject(&n.subject)
            .message_structure("json")
            .message(n.message_structure());
        for (name, value) in &n.attributes {
            // SNS refuses empty attribute values.
            if value.is_empty() {
                continue;
            }
            let attribute = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| error(e.to_string()))?;
            request = request.message_attributes(*name, attribute);
        }
        request
            .send()
            .await
            .map(|_| ())
            .map_err(|e| error(aws_sdk_sns::error::DisplayErrorContext(&e).to_string()))
    }
}
