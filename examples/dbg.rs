fn main() {
    for a in std::env::args().skip(1) {
        let mut s = visitrec::audio::decode::AudioStream::open(a.as_ref()).unwrap();
        let mut out: Vec<i16> = Vec::new();
        while let Some(c) = s.next_chunk().unwrap() {
            out.extend(c.iter().map(|x| (x * 32768.0).round() as i16));
        }
        let raw: Vec<u8> = out.iter().flat_map(|x| x.to_le_bytes()).collect();
        std::fs::write(format!("{a}.ours.raw"), raw).unwrap();
        println!("{a}: {:?} {}", s.info(), out.len());
    }
}
