//! Which kind of identifying metadata a tag's name stands for (Vorbis comments, APE items,
//! Apple `mdta` keys, ID3 `TXXX` descriptions, ffmpeg's names): shared by the containers.

use super::Kind;

/// Tags that say nothing about a person: codec and gapless facts, dates, numbering.
const HARMLESS: &[&str] = &[
    "encoder",
    "encoding",
    "encoder_options",
    "encodersettings",
    "date",
    "year",
    "creation_time",
    "creationdate",
    "tracknumber",
    "tracktotal",
    "totaltracks",
    "track",
    "discnumber",
    "disctotal",
    "totaldiscs",
    "disc",
    "genre",
    "language",
    "bpm",
    "itunsmpb",
    "itunnorm",
    "itunpgap",
    "major_brand",
    "minor_version",
    "compatible_brands",
    "duration",
    "waveformatextensible_channel_mask",
    "vendor",
    "isrc",
    "compilation",
];

/// The kind a tag named `name` carries; `None` for a harmless one.
pub fn classify(name: &str) -> Option<Kind> {
    let n = name.trim().to_ascii_lowercase();
    let n = n
        .strip_prefix("com.apple.quicktime.")
        .or_else(|| n.strip_prefix("com.android."))
        .unwrap_or(&n);
    let has = |words: &[&str]| words.iter().any(|w| n.contains(w));
    if HARMLESS.contains(&n) || n.starts_with("replaygain") || n.starts_with("r128") {
        return None;
    }
    Some(
        if has(&[
            "location",
            "gps",
            "geo",
            "latitude",
            "longitude",
            "iso6709",
            "xyz",
        ]) {
            Kind::Location
        } else if has(&[
            "make",
            "model",
            "device",
            "manufacturer",
            "camera",
            "hardware",
            "software",
        ]) {
            Kind::Device
        } else if has(&["picture", "cover", "artwork"]) {
            Kind::Picture
        } else if has(&[
            "artist",
            "performer",
            "composer",
            "author",
            "lyricist",
            "conductor",
            "arranger",
            "writer",
            "owner",
            "creator",
            "copyright",
            "encodedby",
            "encoded_by",
            "encoded-by",
            "contact",
            "organization",
            "publisher",
            "person",
            "displayname",
            "engineer",
            "producer",
            "technician",
            "originator",
        ]) {
            Kind::Person
        } else if has(&[
            "title",
            "comment",
            "description",
            "album",
            "lyrics",
            "subject",
            "keywords",
            "summary",
            "synopsis",
            "notes",
            "grouping",
            "information",
        ]) {
            Kind::Text
        } else {
            Kind::Other
        },
    )
}

/// Classifies each `KEY=value` comment of a Vorbis comment block (Vorbis, Opus, FLAC) whose
/// body `b` starts at the vendor length; little-endian lengths, bounded by `b`.
pub fn vorbis_comments(b: &[u8], kinds: &mut super::Kinds) -> std::io::Result<()> {
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "bad Vorbis comment block");
    let le = |at: usize| -> Option<usize> {
        let s = b.get(at..at.checked_add(4)?)?;
        Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]) as usize)
    };
    let vendor = le(0).ok_or_else(bad)?;
    let mut at = 4usize.checked_add(vendor).ok_or_else(bad)?;
    let count = le(at).ok_or_else(bad)?;
    at += 4;
    for _ in 0..count {
        let len = le(at).ok_or_else(bad)?;
        let start = at + 4;
        let text = b
            .get(start..start.checked_add(len).ok_or_else(bad)?)
            .ok_or_else(bad)?;
        let key = text.split(|&c| c == b'=').next().unwrap_or_default();
        if let Some(k) = classify(&String::from_utf8_lossy(key)) {
            kinds.insert(k);
        }
        at = start + len;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_kinds() {
        for (name, kind) in [
            ("LOCATION", Some(Kind::Location)),
            ("com.apple.quicktime.location.ISO6709", Some(Kind::Location)),
            ("com.apple.quicktime.model", Some(Kind::Device)),
            ("com.apple.quicktime.author", Some(Kind::Person)),
            ("ARTIST", Some(Kind::Person)),
            ("comment", Some(Kind::Text)),
            ("METADATA_BLOCK_PICTURE", Some(Kind::Picture)),
            ("ENCODER", None),
            ("date", None),
            ("REPLAYGAIN_TRACK_GAIN", None),
            ("iTunSMPB", None),
            ("patient_ref", Some(Kind::Other)),
        ] {
            assert_eq!(classify(name), kind, "{name}");
        }
    }
}
