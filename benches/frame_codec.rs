//! AudioSocket frame codec throughput: decode and encode of 20 ms frames (MB/s and frames/s).
//!
//! Run: `cargo bench --bench frame_codec`.

use bytes::BytesMut;
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use enclave::transport::frame::{decode, encode_audio, AudioRate};

/// `n` 20 ms frames at `rate`, back to back, as they come off a socket.
fn wire(rate: AudioRate, n: usize) -> BytesMut {
    let samples: Vec<i16> = (0..rate.samples_per_20ms())
        .map(|i| (i as i16).wrapping_mul(37))
        .collect();
    let mut buf = BytesMut::new();
    for _ in 0..n {
        encode_audio(rate, &samples, &mut buf);
    }
    buf
}

fn bench_decode(c: &mut Criterion) {
    let mut group = c.benchmark_group("decode");
    for rate in [AudioRate::Hz8000, AudioRate::Hz16000, AudioRate::Hz48000] {
        let n = 1000;
        let bytes = wire(rate, n);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_with_input(BenchmarkId::new("bytes", rate.hz()), &bytes, |b, bytes| {
            b.iter(|| {
                let mut buf = bytes.clone();
                let mut count = 0;
                while let Ok(Some(f)) = decode(&mut buf) {
                    black_box(&f);
                    count += 1;
                }
                assert_eq!(count, n);
            })
        });
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("frames", rate.hz()), &bytes, |b, bytes| {
            b.iter(|| {
                let mut buf = bytes.clone();
                while let Ok(Some(f)) = decode(&mut buf) {
                    black_box(&f);
                }
            })
        });
    }
    group.finish();
}

fn bench_encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("encode");
    for rate in [AudioRate::Hz8000, AudioRate::Hz16000, AudioRate::Hz48000] {
        let samples: Vec<i16> = (0..rate.samples_per_20ms()).map(|i| i as i16).collect();
        let n = 1000u64;
        group.throughput(Throughput::Bytes(n * (3 + rate.bytes_per_20ms() as u64)));
        group.bench_with_input(BenchmarkId::new("bytes", rate.hz()), &samples, |b, s| {
            let mut buf = BytesMut::with_capacity(8000);
            b.iter(|| {
                for _ in 0..n {
                    buf.clear();
                    encode_audio(rate, black_box(s), &mut buf);
                    black_box(&buf);
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_decode, bench_encode);
criterion_main!(benches);
