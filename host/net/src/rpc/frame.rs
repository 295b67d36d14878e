//! Frames: `[len: u32 LE][JSON; len bytes]`.

use quinn::{RecvStream, SendStream};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The largest control frame accepted (a JobGraph with its specs fits many times over).
pub const MAX_CONTROL_FRAME: u32 = 16 << 20;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The stream broke or the peer went away.
    #[error("connection lost: {detail}")]
    Lost {
        /// What broke.
        detail: String,
        /// The connection's own error, when the connection (not only the stream) ended: it
        /// tells a refused certificate from a peer that went away.
        connection: Option<quinn::ConnectionError>,
    },
    /// The peer sent something that is not a valid message.
    #[error("protocol violation: {0}")]
    Protocol(String),
}

impl FrameError {
    /// The connection's error behind this one, if the connection ended.
    pub fn connection(&self) -> Option<&quinn::ConnectionError> {
        match self {
            FrameError::Lost { connection, .. } => connection.as_ref(),
            FrameError::Protocol(_) => None,
        }
    }

    fn written(error: quinn::WriteError) -> Self {
        let connection = match &error {
            quinn::WriteError::ConnectionLost(e) => Some(e.clone()),
            _ => None,
        };
        FrameError::Lost {
            detail: error.to_string(),
            connection,
        }
    }

    fn read(error: quinn::ReadExactError) -> Self {
        let connection = match &error {
            quinn::ReadExactError::ReadError(quinn::ReadError::ConnectionLost(e)) => {
                Some(e.clone())
            }
            _ => None,
        };
        FrameError::Lost {
            detail: error.to_string(),
            connection,
        }
    }
}

/// Writes `message` as one frame.
pub async fn write_frame<T: Serialize>(
    send: &mut SendStream,
    message: &T,
) -> Result<(), FrameError> {
    let body = serde_json::to_vec(message).map_err(|e| FrameError::Protocol(e.to_string()))?;
    let len = u32::try_from(body.len())
        .ok()
        .filter(|&len| len <= MAX_CONTROL_FRAME)
        .ok_or_else(|| {
            FrameError::Protocol(format!("a {}-byte control frame is too large", body.len()))
        })?;
    send.write_all(&len.to_le_bytes())
        .await
        .map_err(FrameError::written)?;
    send.write_all(&body).await.map_err(FrameError::written)
}

/// Reads one frame; `None` when the peer finished the stream cleanly between frames.
pub async fn read_frame<T: DeserializeOwned>(
    recv: &mut RecvStream,
) -> Result<Option<T>, FrameError> {
    let mut len = [0u8; 4];
    match recv.read_exact(&mut len).await {
        Ok(()) => {}
        Err(quinn::ReadExactError::FinishedEarly(0)) => return Ok(None),
        Err(e) => return Err(FrameError::read(e)),
    }
    let len = u32::from_le_bytes(len);
    if len > MAX_CONTROL_FRAME {
        return Err(FrameError::Protocol(format!(
            "a {len}-byte control frame exceeds the {MAX_CONTROL_FRAME}-byte limit"
        )));
    }
    let mut body = vec![0u8; len as usize];
    recv.read_exact(&mut body).await.map_err(FrameError::read)?;
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| FrameError::Protocol(format!("not a valid message: {e}")))
}
