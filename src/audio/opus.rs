//! Opus from any container: its identification header, as each container carries it, and a
//! decoder for it (opus-pure: pure Rust, checked against libopus). Ogg Opus goes through
//! opus-pure's own Ogg reader; WebM/Matroska, CAF and MP4 are demuxed by symphonia, which has
//! no Opus decoder, and their packets come here.

use super::decode::AudioError;

/// Rate at which Opus is decoded (every Opus stream decodes natively at 48 kHz).
pub const RATE: u32 = 48_000;

/// How a container stores the identification header's integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// RFC 7845 `OpusHead` (Ogg, Matroska's CodecPrivate, a CAF magic cookie).
    Little,
    /// MP4's `dOps` box (symphonia hands it on behind the `OpusHead` magic, as it is).
    Big,
}

/// What decoding needs from the identification header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Output channels (1 or 2: mapping family 0).
    pub channels: u8,
    /// Samples at 48 kHz the encoder put before the audio.
    pub pre_skip: u16,
    /// Gain to apply, in Q7.8 dB.
    pub gain_q8: i16,
}

impl Head {
    /// Parses a header of at least 19 bytes starting with `OpusHead`. Only mapping family 0
    /// (mono and stereo) is decoded: more channels are refused, saying so.
    pub fn parse(b: &[u8], order: Order) -> Result<Head, AudioError> {
        let bad = |why: &str| AudioError::Corrupt(format!("opus identification header: {why}"));
        if b.len() < 19 || &b[..8] != b"OpusHead" {
            return Err(bad("missing or too short"));
        }
        if b[8] >> 4 != 0 {
            return Err(AudioError::UnsupportedCodec(format!(
                "opus (identification header version {})",
                b[8]
            )));
        }
        let (u16_at, i16_at) = match order {
            Order::Little => (
                u16::from_le_bytes([b[10], b[11]]),
                i16::from_le_bytes([b[16], b[17]]),
            ),
            Order::Big => (
                u16::from_be_bytes([b[10], b[11]]),
                i16::from_be_bytes([b[16], b[17]]),
            ),
        };
        let (channels, family) = (b[9], b[18]);
        if channels == 0 {
            return Err(bad("zero channels"));
        }
        if family != 0 || channels > 2 {
            return Err(AudioError::UnsupportedCodec(format!(
                "opus with {channels} channels (mapping family {family}; only mono and \
                 stereo Opus is supported)"
            )));
        }
        Ok(Head {
            channels,
            pre_skip: u16_at,
            gain_q8: i16_at,
        })
    }

    /// What a container without an identification header implies (CAF may carry none): no
    /// pre-skip or gain of its own. More than two channels are refused, as in [`Self::parse`].
    pub fn without_header(channels: u16) -> Result<Head, AudioError> {
        match u8::try_from(channels) {
            Ok(c @ 1..=2) => Ok(Head {
                channels: c,
                pre_skip: 0,
                gain_q8: 0,
            }),
            _ => Err(AudioError::UnsupportedCodec(format!(
                "opus with {channels} channels (only mono and stereo Opus is supported)"
            ))),
        }
    }

    /// A decoder at [`RATE`] with the header's gain.
    pub fn decoder(&self) -> Result<opus_pure::OpusDecoder, AudioError> {
        let mut d = opus_pure::OpusDecoder::new(RATE as i32, usize::from(self.channels))
            .map_err(|e| AudioError::UnsupportedCodec(format!("opus ({e})")))?;
        d.gain_q8 = i32::from(self.gain_q8);
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(version: u8, channels: u8, family: u8) -> Vec<u8> {
        let mut b = b"OpusHead".to_vec();
        b.extend_from_slice(&[version, channels, 0x38, 0x01, 0x80, 0xBB, 0, 0, 0x00, 0x01]);
        b.push(family);
        b
    }

    #[test]
    fn the_header_is_read_in_either_byte_order() {
        let h = Head::parse(&head(1, 2, 0), Order::Little).unwrap();
        assert_eq!(
            h,
            Head {
                channels: 2,
                pre_skip: 312,
                gain_q8: 256
            }
        );
        let h = Head::parse(&head(0, 1, 0), Order::Big).unwrap();
        assert_eq!((h.channels, h.pre_skip, h.gain_q8), (1, 0x3801, 1));
        assert!(h.decoder().is_ok());
    }

    #[test]
    fn surround_damaged_and_future_headers_are_refused() {
        let e = Head::parse(&head(1, 6, 1), Order::Little).unwrap_err();
        assert!(
            e.to_string().contains("opus with 6 channels") && e.to_string().contains("stereo"),
            "{e}"
        );
        for bad in [
            head(1, 0, 0),
            head(0x10, 1, 0),
            head(1, 1, 0)[..18].to_vec(),
        ] {
            assert!(Head::parse(&bad, Order::Little).is_err());
        }
        assert!(Head::without_header(2).is_ok());
        let e = Head::without_header(6).unwrap_err();
        assert!(e.to_string().contains("opus with 6 channels"), "{e}");
        let mut not = head(1, 1, 0);
        not[0] = b'X';
        assert!(Head::parse(&not, Order::Little).is_err());
    }
}
