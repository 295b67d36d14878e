//! A task's event time from its inputs: each input channel's latest watermark, and their
//! minimum over the channels still open (Flink's rule: an operator's event time is the slowest
//! input's). Sans-IO: the task feeds it what arrives and forwards what it returns.

/// Watermarks of a task's input channels.
#[derive(Debug)]
pub(crate) struct InputWatermarks {
    channels: Vec<Option<i64>>,
    open: Vec<bool>,
    current: i64,
}

impl InputWatermarks {
    /// `channels` inputs, none with a watermark yet.
    pub(crate) fn new(channels: usize) -> Self {
        InputWatermarks {
            channels: vec![None; channels],
            open: vec![true; channels],
            current: i64::MIN,
        }
    }

    /// Channel `channel` reached `watermark`; returns the task's new event time if it advanced.
    pub(crate) fn on_watermark(&mut self, channel: usize, watermark: i64) -> Option<i64> {
        if let Some(slot) = self.channels.get_mut(channel) {
            *slot = Some(slot.map_or(watermark, |old| old.max(watermark)));
        }
        self.advance()
    }

    /// Channel `channel` ended: it no longer holds event time back.
    pub(crate) fn on_end(&mut self, channel: usize) -> Option<i64> {
        if let Some(open) = self.open.get_mut(channel) {
            *open = false;
        }
        if self.open.iter().any(|&open| open) {
            self.advance()
        } else {
            None
        }
    }

    fn advance(&mut self) -> Option<i64> {
        let mut minimum = i64::MAX;
        for (watermark, open) in self.channels.iter().zip(&self.open) {
            if *open {
                minimum = minimum.min((*watermark)?);
            }
        }
        (minimum > self.current && minimum != i64::MAX).then(|| {
            self.current = minimum;
            minimum
        })
    }
}

#[cfg(test)]
mod tests {
    use super::InputWatermarks;

    #[test]
    fn event_time_is_the_slowest_open_input() {
        let mut inputs = InputWatermarks::new(3);
        assert_eq!(inputs.on_watermark(0, 10), None, "two inputs have none yet");
        assert_eq!(inputs.on_watermark(1, 5), None);
        assert_eq!(inputs.on_watermark(2, 7), Some(5));
        assert_eq!(inputs.on_watermark(1, 20), Some(7));
        assert_eq!(
            inputs.on_watermark(1, 3),
            None,
            "a watermark never goes back"
        );
        assert_eq!(
            inputs.on_end(2),
            Some(10),
            "an ended input holds nothing back"
        );
        assert_eq!(inputs.on_watermark(0, 30), Some(20));
    }
}
