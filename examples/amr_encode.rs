//! Fixture tool (used by scripts/make-fixtures): encodes 8 kHz mono 16-bit PCM from stdin
//! as AMR-NB 12.2 kbit/s in the RFC 4867 storage format (`.amr`) on stdout.

use std::io::{Read, Write};

use codec_core::codecs::amr::storage;
use codec_core::codecs::amr::{AmrCodec, AmrFrameType, AmrMode, AmrPayloadFrame, AmrVariant};
use codec_core::types::{CodecConfig, CodecType, SampleRate, VariableRateCodec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut raw = Vec::new();
    std::io::stdin().read_to_end(&mut raw)?;
    let pcm: Vec<i16> = raw
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let mut config = CodecConfig::new(CodecType::AmrNb);
    config.sample_rate = SampleRate::Rate8000;
    let mut codec = AmrCodec::new(&config)?;
    let mut frames = Vec::new();
    for block in pcm.chunks(160) {
        let mut frame = block.to_vec();
        frame.resize(160, 0);
        let coded = codec.encode_frame(&frame)?;
        let mode = AmrMode::new(AmrVariant::NarrowBand, coded.mode)?;
        frames.push(AmrPayloadFrame::new(
            AmrFrameType::Speech(mode),
            true,
            coded.data,
        )?);
    }
    std::io::stdout().write_all(&storage::write(AmrVariant::NarrowBand, &frames)?)?;
    Ok(())
}
