//! Adobe XMP packets (an MP4 `uuid` box or `moov/udta/XMP_`, a WAV `_PMX` or `XMP `
//! chunk): RDF/XML whose property names say what it holds. Every packet is at least
//! [`Kind::Other`] (document ids, edit history); the names below add the kinds they carry.

use super::{Kind, Kinds};

/// The user type of an MP4 `uuid` box holding XMP (BE7ACFCB-97A9-42E8-9C71-999491E3AFAC).
pub const MP4_UUID: [u8; 16] = [
    0xbe, 0x7a, 0xcf, 0xcb, 0x97, 0xa9, 0x42, 0xe8, 0x9c, 0x71, 0x99, 0x94, 0x91, 0xe3, 0xaf, 0xac,
];

/// XMP property names (namespace prefix included, as writers spell them) by kind.
const NAMES: &[(Kind, &[&str])] = &[
    (
        Kind::Location,
        &[
            "exif:GPS",
            "Iptc4xmpCore:Location",
            "Iptc4xmpExt:LocationShown",
            "Iptc4xmpExt:LocationCreated",
            "photoshop:City",
            "photoshop:State",
            "photoshop:Country",
            "xmpDM:shotLocation",
        ],
    ),
    (
        Kind::Device,
        &[
            "tiff:Make",
            "tiff:Model",
            "exifEX:BodySerialNumber",
            "aux:SerialNumber",
            "xmp:CreatorTool",
        ],
    ),
    (
        Kind::Person,
        &[
            "dc:creator",
            "dc:rights",
            "dc:contributor",
            "dc:publisher",
            "xmpRights:Owner",
            "photoshop:AuthorsPosition",
            "photoshop:Credit",
            "xmpDM:artist",
            "xmpDM:albumArtist",
            "xmpDM:composer",
            "xmpDM:engineer",
            "xmpDM:director",
            "Iptc4xmpCore:CreatorContactInfo",
        ],
    ),
    (
        Kind::Text,
        &[
            "dc:title",
            "dc:description",
            "dc:subject",
            "xmpDM:logComment",
            "xmpDM:album",
            "xmpDM:lyrics",
            "photoshop:Headline",
        ],
    ),
];

/// Records the kinds an XMP packet carries.
pub fn detect(packet: &[u8], kinds: &mut Kinds) {
    kinds.insert(Kind::Other);
    for (kind, names) in NAMES {
        if names
            .iter()
            .any(|n| packet.windows(n.len()).any(|w| w == n.as_bytes()))
        {
            kinds.insert(*kind);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_give_kinds_and_any_packet_is_other() {
        let p = br#"<rdf:Description exif:GPSLatitude="48,51.5N"><dc:creator>Zoe</dc:creator>"#;
        let mut k = Kinds::new();
        detect(p, &mut k);
        assert_eq!(k, Kinds::from([Kind::Location, Kind::Person, Kind::Other]));
        let mut k = Kinds::new();
        detect(b"<x:xmpmeta/>", &mut k);
        assert_eq!(k, Kinds::from([Kind::Other]));
    }
}
