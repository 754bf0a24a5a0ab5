//! A Mandelbrot renderer whose output is a PNG image (8-bit indexed colour). The encoder is
//! written out here (zlib "stored" blocks, CRC-32, Adler-32) so the module has no dependencies.

/// Image parameters; arguments are `WIDTH HEIGHT MAX_ITER [CX CY SCALE]`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct View {
    pub width: u32,
    pub height: u32,
    pub max_iter: u32,
    pub cx: f64,
    pub cy: f64,
    /// Width of the view in the complex plane.
    pub scale: f64,
}

impl Default for View {
    fn default() -> Self {
        View {
            width: 480,
            height: 360,
            max_iter: 256,
            cx: -0.6,
            cy: 0.0,
            scale: 3.2,
        }
    }
}

/// Escape iteration of every pixel, row by row (`max_iter` for points inside the set).
pub fn iterations(v: &View) -> Vec<u32> {
    let mut out = Vec::with_capacity((v.width * v.height) as usize);
    let step = v.scale / v.width as f64;
    for py in 0..v.height {
        let y0 = v.cy + (py as f64 - v.height as f64 / 2.0) * step;
        for px in 0..v.width {
            let x0 = v.cx + (px as f64 - v.width as f64 / 2.0) * step;
            let (mut x, mut y, mut i) = (0.0f64, 0.0f64, 0);
            while i < v.max_iter && x * x + y * y <= 4.0 {
                let t = x * x - y * y + x0;
                y = 2.0 * x * y + y0;
                x = t;
                i += 1;
            }
            out.push(i);
        }
    }
    out
}

fn crc32(chunks: &[&[u8]]) -> u32 {
    let mut c = 0xffff_ffffu32;
    for data in chunks {
        for &b in *data {
            c ^= b as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xedb8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
    }
    !c
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + x as u32) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc32(&[kind, data]).to_be_bytes());
}

/// zlib stream of `raw` in stored (uncompressed) blocks.
fn zlib_stored(raw: &[u8]) -> Vec<u8> {
    let mut z = vec![0x78, 0x01];
    let mut blocks = raw.chunks(65_535).peekable();
    if blocks.peek().is_none() {
        z.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(block) = blocks.next() {
        z.push(u8::from(blocks.peek().is_none()));
        let len = block.len() as u16;
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(block);
    }
    z.extend_from_slice(&adler32(raw).to_be_bytes());
    z
}

/// Colour of an escape count: black inside, a blue-gold gradient outside.
fn palette() -> Vec<u8> {
    let mut p = Vec::with_capacity(256 * 3);
    for i in 0..256u32 {
        let t = i as f64 / 255.0;
        let r = 9.0 * (1.0 - t) * t * t * t * 255.0;
        let g = 15.0 * (1.0 - t) * (1.0 - t) * t * t * 255.0;
        let b = 8.5 * (1.0 - t) * (1.0 - t) * (1.0 - t) * t * 255.0;
        p.extend_from_slice(&[r.min(255.0) as u8, g.min(255.0) as u8, b.min(255.0) as u8]);
    }
    p[255 * 3..].copy_from_slice(&[0, 0, 0]);
    p
}

/// The PNG of a view.
pub fn render(v: &View) -> Vec<u8> {
    let iters = iterations(v);
    let mut raw = Vec::with_capacity(((v.width + 1) * v.height) as usize);
    for row in iters.chunks(v.width as usize) {
        raw.push(0); // filter: none
        raw.extend(row.iter().map(|&i| {
            if i >= v.max_iter {
                255
            } else {
                (i * 254 / v.max_iter.max(1)) as u8
            }
        }));
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&v.width.to_be_bytes());
    ihdr.extend_from_slice(&v.height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 3, 0, 0, 0]); // 8-bit, indexed, deflate, adaptive, no interlace
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"PLTE", &palette());
    chunk(&mut png, b"IDAT", &zlib_stored(&raw));
    chunk(&mut png, b"IEND", &[]);
    png
}

/// Parses `WIDTH HEIGHT MAX_ITER [CX CY SCALE]`.
pub fn parse(args: &[String]) -> Result<View, String> {
    let mut v = View::default();
    let int = |s: &String, max: u32| {
        s.parse::<u32>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| format!("{s:?} is not a number from 1 to {max}"))
    };
    let float = |s: &String| {
        s.parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .ok_or_else(|| format!("{s:?} is not a finite number"))
    };
    if let Some(a) = args.first() {
        v.width = int(a, 4096)?;
    }
    if let Some(a) = args.get(1) {
        v.height = int(a, 4096)?;
    }
    if let Some(a) = args.get(2) {
        v.max_iter = int(a, 1_000_000)?;
    }
    if args.len() >= 6 {
        v.cx = float(&args[3])?;
        v.cy = float(&args[4])?;
        v.scale = float(&args[5])?;
    }
    Ok(v)
}

/// The job: arguments as in [`parse`]; stdin is ignored; the output is the PNG.
pub fn run(_input: &[u8], args: &[String]) -> Result<Vec<u8>, String> {
    Ok(render(&parse(args)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_match_known_values() {
        assert_eq!(crc32(&[b"IEND"]), 0xae42_6082);
        assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
    }
}
