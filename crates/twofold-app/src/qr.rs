//! The enrollment QR code: an `otpauth://` URI drawn as a small, inert inline SVG (SEC-03).
//!
//! The SVG is safe to inline under `default-src 'none'`: it holds only a background `<rect>`
//! and one `<path>` of squares, with no script, event handlers, styles, links or external
//! references. The URI itself never appears in the markup, only the modules it encodes, so no
//! input can inject anything. It scales with CSS: a `viewBox` in module units and a modest
//! default `width`/`height`.

use data_encoding::BASE64;
use qrcode::bits::Bits;
use qrcode::render::svg;
use qrcode::types::QrError as EncodeError;
use qrcode::{EcLevel, QrCode, Version};
use thiserror::Error;

/// The longest input, in bytes, that is drawn; an enrollment URI is far shorter. (A version 40
/// code at level M holds 2331 bytes, so every accepted input fits.)
pub const MAX_QR_DATA_LEN: usize = 2048;

/// The default displayed size, in CSS pixels; the `viewBox` lets a page scale it.
pub const QR_SVG_SIZE: u32 = 220;

/// The accessible name of the image. Plain text with nothing XML would have to escape.
pub const QR_ARIA_LABEL: &str = "QR code for your authenticator app";

/// Level M recovers about 15% damage: the usual choice for codes scanned off a screen.
const EC_LEVEL: EcLevel = EcLevel::M;
/// The light border QR readers need, in modules, for normal (not micro) codes.
const QUIET_ZONE: usize = 4;
const DARK: &str = "#000";
const LIGHT: &str = "#fff";

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QrError {
    #[error("The data is too long for a QR code: {len} bytes, at most {max}.")]
    TooLong { len: usize, max: usize },
    #[error("could not encode the QR code: {0}")]
    Encode(String),
}

impl QrError {
    fn from_encode(error: EncodeError, len: usize) -> Self {
        match error {
            EncodeError::DataTooLong => QrError::TooLong { len, max: MAX_QR_DATA_LEN },
            other => QrError::Encode(other.to_string()),
        }
    }
}

/// `data` as an inline SVG QR code (level M, 4-module quiet zone, black on an opaque white
/// background so it also reads on dark pages), with `role="img"`, an `aria-label` and a
/// `<title>`. Inputs longer than [`MAX_QR_DATA_LEN`] bytes are an error.
pub fn qr_svg(data: &str) -> Result<String, QrError> {
    let code = encode(data.as_bytes())?;
    // One unit per module keeps the path short; the viewBox does the scaling.
    let rendered = code
        .render::<svg::Color<'_>>()
        .quiet_zone(true)
        .module_dimensions(1, 1)
        .dark_color(svg::Color(DARK))
        .light_color(svg::Color(LIGHT))
        .build();
    // qrcode writes an XML declaration and an `<svg>` tag sized in user units; replace both with
    // our own tag and keep what follows: the background `<rect>`, the `<path>` and `</svg>`.
    let body = rendered
        .find("<rect ")
        .and_then(|start| rendered.get(start..))
        .ok_or_else(|| QrError::Encode("unexpected SVG from the QR renderer".into()))?;
    let modules = code.width() + 2 * QUIET_ZONE;
    Ok(format!(
        concat!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {n} {n}" width="{size}" height="{size}""#,
            r#" role="img" aria-label="{label}" shape-rendering="crispEdges"><title>{label}</title>{body}"#,
        ),
        n = modules,
        size = QR_SVG_SIZE,
        label = QR_ARIA_LABEL,
        body = body,
    ))
}

/// The same SVG as a `data:image/svg+xml;base64,…` URI, for pages that prefer an `<img>`
/// (allowed by `img-src data:`).
pub fn qr_svg_data_uri(data: &str) -> Result<String, QrError> {
    let svg = qr_svg(data)?;
    Ok(format!("data:image/svg+xml;base64,{}", BASE64.encode(svg.as_bytes())))
}

fn encode(data: &[u8]) -> Result<QrCode, QrError> {
    if data.len() > MAX_QR_DATA_LEN {
        return Err(QrError::TooLong { len: data.len(), max: MAX_QR_DATA_LEN });
    }
    if data.is_ascii() {
        // qrcode's optimiser mixes numeric, alphanumeric and byte segments, all of which
        // decode back to the same ASCII bytes.
        return QrCode::with_error_correction_level(data, EC_LEVEL).map_err(|e| QrError::from_encode(e, data.len()));
    }
    // The optimiser would read some UTF-8 byte pairs (e.g. the start of "日") as Shift JIS
    // and store them in Kanji mode, which readers decode to different bytes. Store the
    // bytes as they are instead, in the smallest version that holds them.
    for version in 1..=40 {
        let mut bits = Bits::new(Version::Normal(version));
        if bits.push_byte_data(data).is_ok() && bits.push_terminator(EC_LEVEL).is_ok() {
            return QrCode::with_bits(bits, EC_LEVEL).map_err(|e| QrError::from_encode(e, data.len()));
        }
    }
    Err(QrError::TooLong { len: data.len(), max: MAX_QR_DATA_LEN })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use twofold_domain::otp::{Secret, otpauth_uri};

    const URI: &str = "otpauth://totp/Twofold:ada%40example.com?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP\
                       &issuer=Twofold&algorithm=SHA1&digits=6&period=30";

    /// Grey for pixels nothing painted: the SVG must supply its own light background.
    const UNPAINTED: u8 = 128;

    struct Raster {
        width: usize,
        height: usize,
        /// The viewBox size, in user units.
        view: (f64, f64),
        pixels: Vec<u8>,
    }

    impl Raster {
        /// The centre of pixel column `px` / row `py`, in user units.
        fn cx(&self, px: usize) -> f64 {
            (px as f64 + 0.5) * self.view.0 / self.width as f64
        }

        fn cy(&self, py: usize) -> f64 {
            (py as f64 + 0.5) * self.view.1 / self.height as f64
        }
    }

    struct Tag<'a> {
        name: &'a str,
        attrs: Vec<(&'a str, &'a str)>,
        closing: bool,
        self_closing: bool,
    }

    impl<'a> Tag<'a> {
        /// The attribute values for exactly `names`, in that order; anything else fails.
        fn exactly(&self, names: &[&str]) -> Vec<&'a str> {
            let found: Vec<&str> = self.attrs.iter().map(|(k, _)| *k).collect();
            assert_eq!(found, names, "unexpected attributes on <{}>", self.name);
            self.attrs.iter().map(|(_, v)| *v).collect()
        }
    }

    /// Splits the inside of `<…>` into a name and `key="value"` attributes, strictly.
    fn parse_tag(tag: &str) -> Tag<'_> {
        if let Some(name) = tag.strip_prefix('/') {
            assert!(name.bytes().all(|b| b.is_ascii_alphanumeric()), "bad closing tag <{tag}>");
            return Tag { name, attrs: Vec::new(), closing: true, self_closing: false };
        }
        let (body, self_closing) = match tag.strip_suffix('/') {
            Some(body) => (body, true),
            None => (tag, false),
        };
        let name_end = body.find(' ').unwrap_or(body.len());
        let name = &body[..name_end];
        assert!(!name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric()), "bad tag <{tag}>");
        let mut rest = &body[name_end..];
        let mut attrs = Vec::new();
        while !rest.is_empty() {
            rest = rest.strip_prefix(' ').unwrap_or_else(|| panic!("expected a space in <{tag}>"));
            let eq = rest.find("=\"").unwrap_or_else(|| panic!("expected key=\"value\" in <{tag}>"));
            let key = &rest[..eq];
            assert!(
                !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'),
                "bad attribute name {key:?} in <{tag}>"
            );
            let value_and_rest = &rest[eq + 2..];
            let close = value_and_rest.find('"').unwrap_or_else(|| panic!("unterminated value in <{tag}>"));
            let value = &value_and_rest[..close];
            assert!(!value.contains(['<', '&']), "unexpected markup in {key}={value:?}");
            attrs.push((key, value));
            rest = &value_and_rest[close + 1..];
        }
        Tag { name, attrs, closing: false, self_closing }
    }

    fn all_tags(svg: &str) -> Vec<Tag<'_>> {
        svg.split('<').skip(1).map(|part| parse_tag(&part[..part.find('>').expect("unterminated tag")])).collect()
    }

    fn grey(fill: &str) -> u8 {
        match fill {
            "#000" => 0,
            "#fff" => 255,
            other => panic!("unsupported fill {other:?}"),
        }
    }

    fn number(text: &str) -> i64 {
        assert!(!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()), "unsupported number {text:?}");
        text.parse().unwrap()
    }

    /// The vertical edges `(x, y_from, y_to)` of a path made of `M x y`, `h`, `v`, `H`, `V` and
    /// `z` commands with non-negative integers; horizontal edges never cross a horizontal scan
    /// line, so they are not needed to fill. Subpaths are closed, as SVG does for filling.
    fn vertical_edges(d: &str) -> Vec<(i64, i64, i64)> {
        enum Tok<'a> {
            Cmd(char),
            Num(&'a str),
        }
        let mut toks = Vec::new();
        let mut i = 0;
        let bytes = d.as_bytes();
        while i < bytes.len() {
            let c = char::from(bytes[i]);
            if c.is_ascii_digit() {
                let len = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
                toks.push(Tok::Num(&d[i..i + len]));
                i += len;
            } else if "MhvHVzZ".contains(c) {
                toks.push(Tok::Cmd(c));
                i += 1;
            } else if c == ' ' {
                i += 1;
            } else {
                panic!("unsupported path data {c:?} at {i} in {d:?}");
            }
        }

        let mut edges = Vec::new();
        let mut start: Option<(i64, i64)> = None;
        let mut cur = (0, 0);
        let close = |edges: &mut Vec<(i64, i64, i64)>, start: Option<(i64, i64)>, cur: (i64, i64)| {
            if let Some(s) = start {
                if cur.0 == s.0 {
                    edges.push((cur.0, cur.1, s.1));
                } else {
                    assert_eq!(cur.1, s.1, "a subpath that closes diagonally");
                }
            }
        };
        let mut toks = toks.into_iter().peekable();
        while let Some(tok) = toks.next() {
            let Tok::Cmd(cmd) = tok else {
                panic!("a number without a command (implicit repetition) in {d:?}");
            };
            let mut arg = || match toks.next() {
                Some(Tok::Num(n)) => number(n),
                _ => panic!("command {cmd} is missing a number in {d:?}"),
            };
            if cmd == 'M' {
                close(&mut edges, start, cur);
                cur = (arg(), arg());
                start = Some(cur);
                continue;
            }
            assert!(start.is_some(), "path data must start with M: {d:?}");
            match cmd {
                'h' => cur.0 += arg(),
                'H' => cur.0 = arg(),
                'v' => {
                    let to = cur.1 + arg();
                    edges.push((cur.0, cur.1, to));
                    cur.1 = to;
                }
                'V' => {
                    let to = arg();
                    edges.push((cur.0, cur.1, to));
                    cur.1 = to;
                }
                _ => {
                    // z / Z
                    close(&mut edges, start, cur);
                    cur = start.unwrap();
                }
            }
        }
        close(&mut edges, start, cur);
        edges
    }

    /// Draws exactly what `qr_svg` emits (an `<svg>` with a viewBox from 0 0, a `<title>`, then
    /// `<rect>`s and `<path>`s with flat fills) at about `scale` pixels per user unit (rounded to
    /// whole pixels), sampling pixel centres, with the nonzero fill rule. Fails on anything else.
    fn rasterise(svg_text: &str, scale: f64) -> Raster {
        let mut raster: Option<Raster> = None;
        let mut in_title = false;
        let mut ended = false;
        let mut rest = svg_text;
        while !rest.is_empty() {
            assert!(!ended, "content after </svg>: {rest:?}");
            let Some(after) = rest.strip_prefix('<') else {
                let end = rest.find('<').unwrap_or(rest.len());
                assert!(in_title, "unexpected text {:?}", &rest[..end]);
                rest = &rest[end..];
                continue;
            };
            let end = after.find('>').expect("unterminated tag");
            let tag = parse_tag(&after[..end]);
            rest = &after[end + 1..];
            match (tag.name, tag.closing, tag.self_closing) {
                ("svg", false, false) => {
                    assert!(raster.is_none(), "nested <svg>");
                    let values =
                        tag.exactly(&["xmlns", "viewBox", "width", "height", "role", "aria-label", "shape-rendering"]);
                    assert_eq!(values[0], "http://www.w3.org/2000/svg");
                    let view: Vec<&str> = values[1].split(' ').collect();
                    assert_eq!(view.len(), 4, "viewBox {:?}", values[1]);
                    assert_eq!((view[0], view[1]), ("0", "0"), "viewBox must start at 0 0");
                    let (w, h) = (number(view[2]), number(view[3]));
                    let width = (w as f64 * scale).round() as usize;
                    let height = (h as f64 * scale).round() as usize;
                    raster = Some(Raster {
                        width,
                        height,
                        view: (w as f64, h as f64),
                        pixels: vec![UNPAINTED; width * height],
                    });
                }
                ("title", false, false) => in_title = true,
                ("title", true, _) => in_title = false,
                ("rect", false, true) => {
                    let r = raster.as_mut().expect("<rect> outside <svg>");
                    let v = tag.exactly(&["x", "y", "width", "height", "fill"]);
                    let (x, y) = (number(v[0]) as f64, number(v[1]) as f64);
                    let (w, h) = (number(v[2]) as f64, number(v[3]) as f64);
                    let colour = grey(v[4]);
                    for py in 0..r.height {
                        for px in 0..r.width {
                            let (cx, cy) = (r.cx(px), r.cy(py));
                            if x <= cx && cx < x + w && y <= cy && cy < y + h {
                                r.pixels[py * r.width + px] = colour;
                            }
                        }
                    }
                }
                ("path", false, true) => {
                    let r = raster.as_mut().expect("<path> outside <svg>");
                    let v = tag.exactly(&["fill", "d"]);
                    let colour = grey(v[0]);
                    let edges = vertical_edges(v[1]);
                    for py in 0..r.height {
                        let cy = r.cy(py);
                        let mut crossings: Vec<(i64, i32)> = edges
                            .iter()
                            .filter_map(|&(x, from, to)| {
                                let (lo, hi, dir) = if to > from { (from, to, 1) } else { (to, from, -1) };
                                (lo as f64 <= cy && cy < hi as f64).then_some((x, dir))
                            })
                            .collect();
                        crossings.sort_unstable();
                        let mut winding = 0;
                        let mut next = crossings.iter().peekable();
                        for px in 0..r.width {
                            let cx = r.cx(px);
                            while let Some(&&(x, dir)) = next.peek() {
                                if x as f64 > cx {
                                    break;
                                }
                                winding += dir;
                                next.next();
                            }
                            if winding != 0 {
                                r.pixels[py * r.width + px] = colour;
                            }
                        }
                    }
                }
                ("svg", true, _) => ended = true,
                _ => panic!("unsupported element <{}{}>", if tag.closing { "/" } else { "" }, tag.name),
            }
        }
        assert!(ended, "missing </svg>");
        let raster = raster.expect("no <svg> element");
        assert!(raster.pixels.iter().all(|&p| p != UNPAINTED), "the SVG leaves part of its viewBox transparent");
        raster
    }

    /// Finds the one QR code in the picture and returns its payload bytes.
    fn decode(raster: &Raster) -> Vec<u8> {
        let mut img = rqrr::PreparedImage::prepare_from_greyscale(raster.width, raster.height, |x, y| {
            raster.pixels[y * raster.width + x]
        });
        let grids = img.detect_grids();
        assert_eq!(grids.len(), 1, "expected exactly one QR code");
        let mut out = Vec::new();
        let meta = grids[0].decode_to(&mut out).unwrap();
        assert_eq!(meta.ecc_level, 0, "format bits 00 mean level M");
        out
    }

    fn round_trip(data: &str, scale: f64) -> Vec<u8> {
        decode(&rasterise(&qr_svg(data).unwrap(), scale))
    }

    // SEC-03: what a phone reads off the rendered SVG is the enrollment URI, byte for byte.
    #[test]
    fn sec_03_qr_decodes_to_exactly_the_uri() {
        let svg = qr_svg(URI).unwrap();
        let raster = rasterise(&svg, 4.0);
        assert!(raster.pixels.contains(&0) && raster.pixels.contains(&255));
        assert_eq!(decode(&raster), URI.as_bytes());
    }

    // Drawn at its default 220 CSS px on a 2x screen (a fractional number of pixels per module),
    // it still reads. (rqrr misses some scales under 4 px per module, e.g. 220 px at 1x for this
    // 57-module code, which is a limit of its finder-pattern detector rather than of the SVG.)
    #[test]
    fn qr_decodes_at_its_default_size_on_a_2x_screen() {
        let svg = qr_svg(URI).unwrap();
        let view_box = all_tags(&svg)[0].attrs.iter().find(|(k, _)| *k == "viewBox").unwrap().1;
        let modules: f64 = view_box.rsplit(' ').next().unwrap().parse().unwrap();
        let raster = rasterise(&svg, 2.0 * f64::from(QR_SVG_SIZE) / modules);
        assert_eq!(raster.width, 2 * QR_SVG_SIZE as usize);
        assert_eq!(decode(&raster), URI.as_bytes());
    }

    // SEC-03: a long label and issuer with percent-encoded spaces, '+', ':' and '@' survive.
    #[test]
    fn qr_long_uri_with_encoded_issuer_and_account_round_trips() {
        let uri = "otpauth://totp/Acme%20Widgets%20%2B%20Gadgets%3A%20EU%20Staff%20Portal:\
                   grace%20hopper%2Bsecurity%40engineering.example.com\
                   ?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
                   &issuer=Acme%20Widgets%20%2B%20Gadgets%3A%20EU%20Staff%20Portal&algorithm=SHA256&digits=8&period=60";
        assert_eq!(round_trip(uri, 4.0), uri.as_bytes());

        // And as the domain builds it.
        let uri = otpauth_uri("Acme Corp: EU + US", "jo+smith @acme.io", &Secret::from_bytes(*b"12345678901234567890"));
        assert!(uri.contains("%20") && uri.contains("%2B") && uri.contains("%3A") && uri.contains("%40"));
        assert_eq!(round_trip(&uri, 4.0), uri.as_bytes());
    }

    // The largest accepted input still fits and reads back.
    #[test]
    fn qr_max_length_input_round_trips() {
        let data: String = (0..MAX_QR_DATA_LEN).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
        assert_eq!(round_trip(&data, 3.0), data.as_bytes());
    }

    // Non-ASCII text is stored as raw bytes: "日" starts with a pair qrcode would otherwise
    // treat as Shift JIS Kanji, which readers would turn into other bytes.
    #[test]
    fn qr_non_ascii_is_stored_byte_for_byte() {
        let data = "otpauth://totp/日本:ünïcode?secret=JBSWY3DPEHPK3PXP";
        assert_eq!(round_trip(data, 4.0), data.as_bytes());
    }

    // Inlined under `default-src 'none'; img-src 'self' data:`: nothing active, nothing fetched.
    #[test]
    fn qr_svg_is_inert_under_a_strict_csp() {
        let svg = qr_svg(URI).unwrap();
        let lower = svg.to_ascii_lowercase();
        for banned in [
            "<script",
            "href",
            "javascript:",
            "url(",
            "style",
            "<image",
            "<use",
            "<foreignobject",
            "<!",
            "<?",
            "@import",
        ] {
            assert!(!lower.contains(banned), "found {banned:?} in {svg}");
        }
        // The only URL is the namespace name, which is never fetched.
        assert_eq!(lower.matches("://").count(), 1);
        assert!(svg.contains(r#"xmlns="http://www.w3.org/2000/svg""#));
        let tags = all_tags(&svg);
        let names: Vec<&str> = tags.iter().filter(|t| !t.closing).map(|t| t.name).collect();
        assert_eq!(names, ["svg", "title", "rect", "path"]);
        for tag in &tags {
            for (key, _) in &tag.attrs {
                assert!(!key.to_ascii_lowercase().starts_with("on"), "event handler {key} on <{}>", tag.name);
            }
        }
    }

    // It scales, has an accessible name, and is compact.
    #[test]
    fn qr_svg_is_accessible_and_scalable() {
        let svg = qr_svg(URI).unwrap();
        let root = &all_tags(&svg)[0];
        let attr = |name: &str| root.attrs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
        let view_box = attr("viewBox").unwrap();
        assert!(view_box.starts_with("0 0 "));
        assert_eq!(attr("width"), Some("220"));
        assert_eq!(attr("height"), Some("220"));
        assert_eq!(attr("role"), Some("img"));
        assert_eq!(attr("aria-label"), Some(QR_ARIA_LABEL));
        assert!(svg.contains(&format!("<title>{QR_ARIA_LABEL}</title>")));
        assert!(!QR_ARIA_LABEL.contains(['<', '>', '&', '"', '\'']));
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"));
        // One `M{x} {y}h1v1H{x}V{y}` per dark module, in module units: about 20 KB here.
        assert!(svg.len() < 32 * 1024, "{} bytes", svg.len());
    }

    #[test]
    fn qr_data_uri_is_the_svg_in_base64() {
        let uri = qr_svg_data_uri(URI).unwrap();
        let encoded = uri.strip_prefix("data:image/svg+xml;base64,").unwrap();
        let decoded = BASE64.decode(encoded.as_bytes()).unwrap();
        assert_eq!(decoded, qr_svg(URI).unwrap().as_bytes());
    }

    #[test]
    fn qr_rejects_input_over_the_limit() {
        let too_long = "a".repeat(3000);
        let expected = QrError::TooLong { len: 3000, max: MAX_QR_DATA_LEN };
        assert_eq!(qr_svg(&too_long), Err(expected.clone()));
        assert_eq!(qr_svg_data_uri(&too_long), Err(expected));
        let just_over = "é".repeat(MAX_QR_DATA_LEN / 2) + "a";
        assert!(matches!(qr_svg(&just_over), Err(QrError::TooLong { len: 2049, .. })));
        assert!(qr_svg(&"a".repeat(MAX_QR_DATA_LEN)).is_ok());
        assert!(qr_svg(&"é".repeat(MAX_QR_DATA_LEN / 2)).is_ok());
    }

    // The test rasteriser refuses what it does not understand instead of drawing it wrong.
    #[test]
    #[should_panic(expected = "unsupported path data")]
    fn test_rasteriser_rejects_unknown_path_commands() {
        let svg = qr_svg(URI).unwrap().replacen("h1", "l1 0", 1);
        rasterise(&svg, 1.0);
    }

    #[test]
    #[should_panic(expected = "unsupported element")]
    fn test_rasteriser_rejects_unknown_elements() {
        let svg = qr_svg(URI).unwrap().replace("</svg>", "<circle r=\"1\"/></svg>");
        rasterise(&svg, 1.0);
    }
}
