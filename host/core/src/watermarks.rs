//! A task's event time from its inputs: each input channel's latest watermark, and their
//! minimum over the channels still open and not idle (Flink's rule: an operator's event time is
//! the slowest active input's). Sans-IO: the task feeds it what arrives and forwards what it
//! returns.

/// Watermarks of a task's input channels.
#[derive(Debug)]
pub struct InputWatermarks {
    channels: Vec<Option<i64>>,
    open: Vec<bool>,
    idle: Vec<bool>,
    current: i64,
}

impl InputWatermarks {
    /// `channels` inputs, none with a watermark yet.
    pub fn new(channels: usize) -> Self {
        InputWatermarks {
            channels: vec![None; channels],
            open: vec![true; channels],
            idle: vec![false; channels],
            current: i64::MIN,
        }
    }

    /// Channel `channel` reached `watermark` (so it is active); returns the task's new event
    /// time if it advanced.
    pub fn on_watermark(&mut self, channel: usize, watermark: i64) -> Option<i64> {
        self.on_records(channel);
        if let Some(slot) = self.channels.get_mut(channel) {
            *slot = Some(slot.map_or(watermark, |old| old.max(watermark)));
        }
        self.advance()
    }

    /// Records came on `channel`: if it was idle, it holds event time back again.
    pub fn on_records(&mut self, channel: usize) {
        if let Some(idle) = self.idle.get_mut(channel) {
            *idle = false;
        }
    }

    /// Channel `channel` went idle: it no longer holds event time back. Returns the new event
    /// time if it advanced, and whether every open input is now idle (so the task is idle too).
    pub fn on_idle(&mut self, channel: usize) -> (Option<i64>, bool) {
        if let Some(idle) = self.idle.get_mut(channel) {
            *idle = true;
        }
        let all_idle = self
            .open
            .iter()
            .zip(&self.idle)
            .all(|(&open, &idle)| !open || idle);
        (self.advance(), all_idle)
    }

    /// Channel `channel` ended: it no longer holds event time back.
    pub fn on_end(&mut self, channel: usize) -> Option<i64> {
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
        for ((watermark, open), idle) in self.channels.iter().zip(&self.open).zip(&self.idle) {
            if *open && !*idle {
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

    #[test]
    fn an_idle_input_holds_nothing_back_until_it_speaks_again() {
        let mut inputs = InputWatermarks::new(3);
        assert_eq!(inputs.on_watermark(0, 10), None);
        assert_eq!(
            inputs.on_idle(1),
            (None, false),
            "input 2 has no watermark yet"
        );
        assert_eq!(inputs.on_watermark(2, 15), Some(10), "input 1 is idle");
        assert_eq!(inputs.on_watermark(0, 40), Some(15));
        // Records wake input 1: its watermark (none yet) holds event time again.
        inputs.on_records(1);
        assert_eq!(inputs.on_watermark(2, 50), None);
        assert_eq!(inputs.on_watermark(1, 45), Some(40));
        assert_eq!(inputs.on_idle(0), (Some(45), false));
        assert_eq!(inputs.on_idle(1), (Some(50), false));
        assert_eq!(
            inputs.on_idle(2),
            (None, true),
            "every input idle: the task is idle"
        );
    }
}
