//! Frame codec tests: round trips, fragmentation, coalescing and every malformed input.

use super::*;
use proptest::prelude::*;

fn encoded(frames: &[Frame]) -> BytesMut {
    let mut buf = BytesMut::new();
    for f in frames {
        encode(f, &mut buf);
    }
    buf
}

fn decode_all(buf: &mut BytesMut) -> Result<Vec<Frame>, FrameError> {
    let mut out = Vec::new();
    while let Some(f) = decode(buf)? {
        out.push(f);
    }
    Ok(out)
}

fn arb_frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        Just(Frame::Hangup),
        any::<[u8; 16]>().prop_map(Frame::Uuid),
        any::<u8>().prop_map(Frame::Dtmf),
        (0usize..9, 1usize..400).prop_flat_map(|(r, n)| {
            proptest::collection::vec(any::<u8>(), n * 2).prop_map(move |p| Frame::Audio {
                rate: AudioRate::ALL[r],
                payload: Bytes::from(p),
            })
        }),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(|p| Frame::Error(Bytes::from(p))),
    ]
}

proptest! {
    #[test]
    fn round_trip_all_at_once(frames in proptest::collection::vec(arb_frame(), 0..20)) {
        let mut buf = encoded(&frames);
        prop_assert_eq!(buf.len(), frames.iter().map(Frame::encoded_len).sum::<usize>());
        let back = decode_all(&mut buf).unwrap();
        prop_assert_eq!(back, frames);
        prop_assert!(buf.is_empty());
        prop_assert_eq!(decode_eof(&mut buf), Ok(None));
    }

    #[test]
    fn round_trip_in_random_fragments(
        frames in proptest::collection::vec(arb_frame(), 0..20),
        cuts in proptest::collection::vec(1usize..50, 1..200),
    ) {
        let wire = encoded(&frames);
        let mut buf = BytesMut::new();
        let mut back = Vec::new();
        let mut pos = 0;
        let mut i = 0;
        while pos < wire.len() {
            let n = cuts[i % cuts.len()].min(wire.len() - pos);
            buf.extend_from_slice(&wire[pos..pos + n]);
            pos += n;
            i += 1;
            back.extend(decode_all(&mut buf).unwrap());
        }
        prop_assert_eq!(back, frames);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let mut buf = BytesMut::from(&bytes[..]);
        loop {
            match decode(&mut buf) {
                Ok(Some(f)) => prop_assert!(f.payload_len() <= 65535),
                Ok(None) => { let _ = decode_eof(&mut buf); break; }
                Err(_) => break,
            }
        }
    }
}

#[test]
fn byte_by_byte_equals_all_at_once() {
    let frames = vec![
        Frame::Uuid(*b"0123456789abcdef"),
        Frame::Audio {
            rate: AudioRate::Hz8000,
            payload: Bytes::from(vec![7u8; 320]),
        },
        Frame::Dtmf(b'#'),
        Frame::Audio {
            rate: AudioRate::Hz16000,
            payload: Bytes::from(vec![1u8; 640]),
        },
        Frame::Error(Bytes::new()),
        Frame::Hangup,
    ];
    let wire = encoded(&frames);
    let mut buf = BytesMut::new();
    let mut back = Vec::new();
    for b in wire.iter() {
        buf.extend_from_slice(&[*b]);
        back.extend(decode_all(&mut buf).unwrap());
    }
    assert_eq!(back, frames);
    let mut all = wire.clone();
    assert_eq!(decode_all(&mut all).unwrap(), frames);
}

#[test]
fn wire_format_matches_the_spec() {
    let mut buf = BytesMut::new();
    encode(&Frame::Hangup, &mut buf);
    assert_eq!(&buf[..], &HANGUP_BYTES);
    let mut buf = BytesMut::new();
    encode_audio(AudioRate::Hz8000, &[0x0102; 160], &mut buf);
    assert_eq!(
        &buf[..3],
        &[0x10, 0x01, 0x40],
        "0x10, length 320 big-endian"
    );
    assert_eq!(&buf[3..5], &[0x02, 0x01], "samples little-endian");
    assert_eq!(buf.len(), 323);
    let kinds: Vec<(u8, u32)> = AudioRate::ALL.iter().map(|r| (r.kind(), r.hz())).collect();
    assert_eq!(
        kinds,
        vec![
            (0x10, 8000),
            (0x11, 12000),
            (0x12, 16000),
            (0x13, 24000),
            (0x14, 32000),
            (0x15, 44100),
            (0x16, 48000),
            (0x17, 96000),
            (0x18, 192000)
        ]
    );
    assert_eq!(AudioRate::Hz16000.bytes_per_20ms(), 640);
}

fn err_of(bytes: &[u8]) -> FrameError {
    let mut buf = BytesMut::from(bytes);
    let before = buf.len();
    let e = decode(&mut buf).unwrap_err();
    assert_eq!(buf.len(), before, "an error consumes nothing");
    e
}

#[test]
fn malformed_headers_are_typed_errors() {
    assert_eq!(
        err_of(&[0x42, 0, 4, 1, 2, 3, 4]),
        FrameError::UnknownKind { kind: 0x42, len: 4 }
    );
    assert_eq!(
        err_of(&[0x19, 0, 2]),
        FrameError::UnknownKind { kind: 0x19, len: 2 }
    );
    assert_eq!(
        err_of(&[0x01, 0, 15]),
        FrameError::BadUuidLength { len: 15 }
    );
    assert_eq!(
        err_of(&[0x01, 0, 17]),
        FrameError::BadUuidLength { len: 17 }
    );
    assert_eq!(err_of(&[0x03, 0, 0]), FrameError::BadDtmfLength { len: 0 });
    assert_eq!(err_of(&[0x03, 0, 2]), FrameError::BadDtmfLength { len: 2 });
    assert_eq!(
        err_of(&[0x00, 0, 1]),
        FrameError::TooLong {
            kind: 0,
            len: 1,
            max: 0
        }
    );
    assert_eq!(err_of(&[0x10, 0, 0]), FrameError::EmptyAudio { kind: 0x10 });
    assert_eq!(
        err_of(&[0x10, 0x01, 0x41]),
        FrameError::OddAudioLength {
            kind: 0x10,
            len: 321
        }
    );
    // 8 kHz: at most 200 ms = 3200 bytes; the header alone is enough to refuse.
    assert_eq!(
        err_of(&[0x10, 0xff, 0xfe]),
        FrameError::TooLong {
            kind: 0x10,
            len: 65534,
            max: 3200
        }
    );
    // A long error frame is fine (opaque payload up to 65535).
    let mut buf = BytesMut::from(&[0xff, 0x00, 0x02, 9, 9][..]);
    assert_eq!(
        decode(&mut buf).unwrap(),
        Some(Frame::Error(Bytes::from_static(&[9, 9])))
    );
}

#[test]
fn truncated_frame_at_eof_is_reported() {
    let mut buf = BytesMut::from(&[0x10, 0x01][..]);
    assert_eq!(decode(&mut buf), Ok(None));
    assert_eq!(
        decode_eof(&mut buf),
        Err(FrameError::Truncated {
            needed: 3,
            available: 2
        })
    );
    let mut buf = BytesMut::from(&[0x10, 0x01, 0x40, 1, 2, 3, 4][..]);
    assert_eq!(decode(&mut buf), Ok(None));
    assert_eq!(
        decode_eof(&mut buf),
        Err(FrameError::Truncated {
            needed: 323,
            available: 7
        })
    );
}

#[test]
fn audio_before_uuid_is_refused() {
    let mut buf = BytesMut::new();
    encode_audio(AudioRate::Hz8000, &[0; 160], &mut buf);
    let first = decode(&mut buf).unwrap().unwrap();
    assert_eq!(
        expect_uuid(&first),
        Err(FrameError::ExpectedUuid { kind: 0x10 })
    );
    assert_eq!(
        expect_uuid(&Frame::Dtmf(b'1')),
        Err(FrameError::ExpectedUuid { kind: 0x03 })
    );
    assert_eq!(expect_uuid(&Frame::Uuid([5; 16])), Ok([5; 16]));
}

#[test]
fn short_last_frame_and_max_lengths_are_accepted() {
    // Asterisk can send a short last frame (e.g. 290 bytes).
    let mut buf = BytesMut::new();
    encode(
        &Frame::Audio {
            rate: AudioRate::Hz8000,
            payload: Bytes::from(vec![0; 290]),
        },
        &mut buf,
    );
    assert!(matches!(decode(&mut buf), Ok(Some(Frame::Audio { .. }))));
    for rate in AudioRate::ALL {
        assert_eq!(rate.max_payload() % 2, 0);
        assert!(rate.max_payload() >= 10 * rate.bytes_per_20ms() || rate.max_payload() == 65534);
        assert!(check_header(rate.kind(), rate.max_payload()).is_ok());
        assert!(check_header(rate.kind(), rate.max_payload() + 2).is_err());
    }
}
