//! Text of the figures: a small markup for labels, laid out with the DejaVu
//! Sans outlines compiled into the binary, and drawn as outlines, so a PNG
//! and an SVG show the same glyphs and an SVG needs no font on the machine
//! that displays it.
//!
//! Markup (a tiny subset of TeX, enough for physics labels):
//! - `E_B`, `δ_ra`, `n_th`: `_` subscripts the letters and digits after it;
//!   `γ_{a}`, `n_{th,b}`: `_{…}` subscripts a group; `^` superscripts alike
//!   (`10^{−3}`).
//! - A single letter standing alone (`E` in `E_B`, `t`, `g`, `λ` in `iλ₊`) is
//!   a symbol and set in italic (DejaVu Sans Oblique); words, digits,
//!   subscripts, capital Greek and the article "a" stay upright.
//! - `\c` sets the character `c` literally and upright (`\_`, `\{`, `\\`,
//!   `\d` for an upright differential d); `{}` separates symbols without a
//!   space; `` `…` `` sets its contents verbatim and upright (names from files).
//!
//! Glyph outlines come from a minimal TrueType reader (`cmap` 12/4, `hmtx`,
//! `loca`, `glyf` with composite glyphs, `kern` format 0): the font is fixed and
//! known, so nothing more is needed and nothing links against a font library.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::OnceLock;

// ------------------------------------------------------------- markup

/// Vertical placement of a run of text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Script {
    Base,
    Sub,
    Sup,
}

/// A run of characters set alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub text: String,
    pub script: Script,
    pub italic: bool,
}

#[derive(Debug, Clone, Copy)]
struct Piece {
    c: char,
    script: Script,
    /// Set upright and never part of a symbol (escaped, or in an index).
    literal: bool,
    /// A symbol boundary lies before this piece (`{}`, an escape, an index).
    boundary: bool,
}

fn is_greek(c: char) -> bool {
    ('\u{391}'..='\u{3A9}').contains(&c) || ('\u{3B1}'..='\u{3C9}').contains(&c) || matches!(c, 'ϑ' | 'ϕ' | 'ϵ')
}

fn is_latin(c: char) -> bool {
    c.is_ascii_alphabetic() || c == 'ħ'
}

/// Characters an unbraced `_`/`^` takes: ASCII letters and digits, Greek letters.
fn is_index(c: char) -> bool {
    c.is_ascii_alphanumeric() || is_greek(c)
}

fn pieces(s: &str) -> Vec<Piece> {
    let cs: Vec<char> = s.chars().collect();
    let mut out = Vec::with_capacity(cs.len());
    let mut boundary = false;
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        match c {
            '`' => {
                // Verbatim: upright, no markup, until the closing backtick.
                let end = cs[i + 1..].iter().position(|&ch| ch == '`').map_or(cs.len(), |k| i + 1 + k);
                out.extend(cs[i + 1..end].iter().map(|&ch| Piece { c: ch, script: Script::Base, literal: true, boundary: true }));
                boundary = true;
                i = end + 1;
            }
            '\\' if i + 1 < cs.len() => {
                out.push(Piece { c: cs[i + 1], script: Script::Base, literal: true, boundary: true });
                boundary = true;
                i += 2;
            }
            '{' | '}' => {
                boundary = true;
                i += 1;
            }
            '_' | '^' => {
                let script = if c == '_' { Script::Sub } else { Script::Sup };
                let mut index: Vec<char> = Vec::new();
                let mut next = None;
                if cs.get(i + 1) == Some(&'{') {
                    let (mut j, mut depth) = (i + 2, 1);
                    while j < cs.len() {
                        match cs[j] {
                            '\\' if j + 1 < cs.len() => {
                                index.push(cs[j + 1]);
                                j += 1;
                            }
                            '{' => depth += 1,
                            '}' => {
                                depth -= 1;
                                if depth == 0 {
                                    next = Some(j + 1);
                                    break;
                                }
                            }
                            ch => index.push(ch),
                        }
                        j += 1;
                    }
                } else {
                    let mut j = i + 1;
                    while j < cs.len() && is_index(cs[j]) {
                        index.push(cs[j]);
                        j += 1;
                    }
                    if j > i + 1 {
                        next = Some(j);
                    }
                }
                match next {
                    Some(n) => {
                        out.extend(index.into_iter().map(|ch| Piece { c: ch, script, literal: true, boundary: true }));
                        boundary = true;
                        i = n;
                    }
                    // A lone `_` or `^` (nothing to attach): itself.
                    None => {
                        out.push(Piece { c, script: Script::Base, literal: true, boundary: true });
                        boundary = true;
                        i += 1;
                    }
                }
            }
            _ => {
                out.push(Piece { c, script: Script::Base, literal: false, boundary });
                boundary = false;
                i += 1;
            }
        }
    }
    out
}

/// Splits markup into runs of base, subscript and superscript text, with
/// single-letter symbols in italic (see the module documentation).
pub fn parse(s: &str) -> Vec<Run> {
    let p = pieces(s);
    let letter = |k: usize| !p[k].literal && p[k].script == Script::Base && (is_latin(p[k].c) || is_greek(p[k].c));
    let class = |k: usize| is_greek(p[k].c);
    // Symbol candidates: maximal runs of letters of one alphabet.
    let mut italic = vec![false; p.len()];
    let mut k = 0;
    while k < p.len() {
        if !letter(k) {
            k += 1;
            continue;
        }
        let k0 = k;
        k += 1;
        while k < p.len() && letter(k) && !p[k].boundary && class(k) == class(k0) {
            k += 1;
        }
        if k - k0 != 1 {
            continue;
        }
        let c = p[k0].c;
        let before = k0.checked_sub(1).map(|j| p[j].c);
        let after = p.get(k0 + 1).map(|q| q.c);
        // Capital Greek (Γ, Ω) is upright, as in TeX.
        let capital_greek = is_greek(c) && c.is_uppercase();
        // The e of 1.5e−5.
        let exponent = before.is_some_and(|b| b.is_ascii_digit()) && after.is_some_and(|a| a.is_ascii_digit() || "−-+".contains(a));
        // The article: "a passive system" (space, a, space, a word).
        let article = matches!(c, 'a' | 'A')
            && before.is_none_or(|b| b == ' ')
            && after == Some(' ')
            && p.get(k0 + 2).is_some_and(|q| is_latin(q.c) && !q.literal)
            && p.get(k0 + 3).is_some_and(|q| is_latin(q.c) && !q.literal);
        // Part of a word after all: "paper's", "e.g.".
        let at = |j: Option<usize>| j.and_then(|j| p.get(j)).map(|q| q.c);
        let joined = |c: Option<char>, beyond: Option<char>| c.is_some_and(|c| "'’.".contains(c)) && beyond.is_some_and(is_latin);
        let word = joined(before, at(k0.checked_sub(2))) || joined(after, at(Some(k0 + 2)));
        italic[k0] = !(capital_greek || exponent || article || word);
    }
    let mut runs: Vec<Run> = Vec::new();
    for (q, &it) in p.iter().zip(&italic) {
        match runs.last_mut() {
            Some(r) if r.script == q.script && r.italic == it => r.text.push(q.c),
            _ => runs.push(Run { text: q.c.to_string(), script: q.script, italic: it }),
        }
    }
    runs
}

/// The text without markup, as a reader would type it (`γ_a`, `10^−3`): for
/// the accessible name of SVG text and for tests.
pub fn plain(s: &str) -> String {
    let mut out = String::new();
    for r in parse(s) {
        match r.script {
            Script::Base => {}
            Script::Sub => out.push('_'),
            Script::Sup => out.push('^'),
        }
        out.push_str(&r.text);
    }
    out
}

/// Markup that sets `s` literally and upright (file names, dataset paths,
/// config keys): a verbatim group (a backtick inside becomes a quote).
pub fn escape(s: &str) -> String {
    format!("`{}`", s.replace('`', "'"))
}

// ------------------------------------------------------------- fonts

/// The faces of DejaVu Sans used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Face {
    Regular = 0,
    Oblique = 1,
    Bold = 2,
    BoldOblique = 3,
}

impl Face {
    fn of(bold: bool, italic: bool) -> Face {
        match (bold, italic) {
            (false, false) => Face::Regular,
            (false, true) => Face::Oblique,
            (true, false) => Face::Bold,
            (true, true) => Face::BoldOblique,
        }
    }
}

type P = (f64, f64);

/// A piece of a glyph contour (font units, y up).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Seg {
    Line(P),
    Quad(P, P),
}

/// A closed contour: its start and the segments back to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Contour {
    pub start: P,
    pub segs: Vec<Seg>,
}

/// A parsed TrueType font: the tables needed to lay out and outline glyphs.
pub struct Font {
    data: &'static [u8],
    pub units_per_em: f64,
    pub ascender: f64,
    pub descender: f64,
    n_hmetrics: usize,
    n_glyphs: usize,
    hmtx: usize,
    loca: usize,
    glyf: usize,
    long_loca: bool,
    cmap: Vec<(u32, u32, u32)>,
    kern: HashMap<(u16, u16), i16>,
}

fn u16_at(d: &[u8], o: usize) -> Option<u16> {
    d.get(o..o + 2).map(|b| u16::from_be_bytes([b[0], b[1]]))
}

fn i16_at(d: &[u8], o: usize) -> Option<i16> {
    u16_at(d, o).map(|v| v as i16)
}

fn u32_at(d: &[u8], o: usize) -> Option<u32> {
    d.get(o..o + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

impl Font {
    /// Reads the tables of a TrueType font; `None` if one is missing or short.
    pub fn parse(data: &'static [u8]) -> Option<Font> {
        let n = usize::from(u16_at(data, 4)?);
        let mut tables = HashMap::new();
        for k in 0..n {
            let rec = 12 + 16 * k;
            let tag = data.get(rec..rec + 4)?;
            tables.insert(tag.to_vec(), u32_at(data, rec + 8)? as usize);
        }
        let t = |tag: &[u8]| tables.get(tag).copied();
        let head = t(b"head")?;
        let hhea = t(b"hhea")?;
        let cmap_at = t(b"cmap")?;
        let mut f = Font {
            data,
            units_per_em: f64::from(u16_at(data, head + 18)?),
            ascender: f64::from(i16_at(data, hhea + 4)?),
            descender: f64::from(i16_at(data, hhea + 6)?),
            n_hmetrics: usize::from(u16_at(data, hhea + 34)?),
            n_glyphs: usize::from(u16_at(data, t(b"maxp")? + 4)?),
            hmtx: t(b"hmtx")?,
            loca: t(b"loca")?,
            glyf: t(b"glyf")?,
            long_loca: i16_at(data, head + 50)? != 0,
            cmap: Vec::new(),
            kern: HashMap::new(),
        };
        // cmap: the full-Unicode format 12 subtable, else the BMP format 4.
        let n_sub = usize::from(u16_at(data, cmap_at + 2)?);
        let subs: Vec<(u16, u16, usize)> = (0..n_sub)
            .filter_map(|k| {
                let r = cmap_at + 4 + 8 * k;
                Some((u16_at(data, r)?, u16_at(data, r + 2)?, cmap_at + u32_at(data, r + 4)? as usize))
            })
            .collect();
        if let Some(&(_, _, o)) = subs.iter().find(|s| u16_at(data, s.2) == Some(12)) {
            let groups = u32_at(data, o + 12)? as usize;
            for g in 0..groups {
                let r = o + 16 + 12 * g;
                f.cmap.push((u32_at(data, r)?, u32_at(data, r + 4)?, u32_at(data, r + 8)?));
            }
        } else if let Some(&(_, _, o)) = subs.iter().find(|s| s.0 == 3 && s.1 == 1 && u16_at(data, s.2) == Some(4)) {
            let segs = usize::from(u16_at(data, o + 6)? / 2);
            let (ends, starts, deltas, offs) = (o + 14, o + 16 + 2 * segs, o + 16 + 4 * segs, o + 16 + 6 * segs);
            for s in 0..segs {
                let (end, start) = (u32::from(u16_at(data, ends + 2 * s)?), u32::from(u16_at(data, starts + 2 * s)?));
                let delta = i32::from(i16_at(data, deltas + 2 * s)?);
                let ro = usize::from(u16_at(data, offs + 2 * s)?);
                for c in start..=end.min(0xFFFE) {
                    let gid = if ro == 0 {
                        (c as i32 + delta) & 0xFFFF
                    } else {
                        let at = offs + 2 * s + ro + 2 * (c - start) as usize;
                        match u16_at(data, at)? {
                            0 => 0,
                            g => (i32::from(g) + delta) & 0xFFFF,
                        }
                    };
                    if gid != 0 {
                        f.cmap.push((c, c, gid as u32));
                    }
                }
            }
        }
        // kern: horizontal format 0 pairs.
        if let Some(k) = t(b"kern") {
            let n_tab = usize::from(u16_at(data, k + 2)?);
            let mut o = k + 4;
            for _ in 0..n_tab {
                let len = usize::from(u16_at(data, o + 2)?);
                let coverage = u16_at(data, o + 4)?;
                if coverage >> 8 == 0 && coverage & 1 == 1 {
                    let pairs = usize::from(u16_at(data, o + 6)?);
                    for p in 0..pairs {
                        let r = o + 14 + 6 * p;
                        f.kern.insert((u16_at(data, r)?, u16_at(data, r + 2)?), i16_at(data, r + 4)?);
                    }
                }
                o += len.max(6);
            }
        }
        Some(f)
    }

    /// The glyph of a character (0, the "missing" box, if the font lacks it).
    pub fn glyph_id(&self, c: char) -> u16 {
        let c = c as u32;
        let k = self.cmap.partition_point(|g| g.1 < c);
        match self.cmap.get(k) {
            Some(&(lo, _, g0)) if lo <= c => (g0 + (c - lo)) as u16,
            _ => 0,
        }
    }

    /// Advance width in font units.
    pub fn advance(&self, gid: u16) -> f64 {
        let k = usize::from(gid).min(self.n_hmetrics.saturating_sub(1));
        f64::from(u16_at(self.data, self.hmtx + 4 * k).unwrap_or(0))
    }

    pub fn kerning(&self, a: u16, b: u16) -> f64 {
        self.kern.get(&(a, b)).map_or(0.0, |&v| f64::from(v))
    }

    fn glyph_range(&self, gid: u16) -> Option<(usize, usize)> {
        let g = usize::from(gid);
        if g >= self.n_glyphs {
            return None;
        }
        let (a, b) = if self.long_loca {
            (u32_at(self.data, self.loca + 4 * g)? as usize, u32_at(self.data, self.loca + 4 * g + 4)? as usize)
        } else {
            (2 * usize::from(u16_at(self.data, self.loca + 2 * g)?), 2 * usize::from(u16_at(self.data, self.loca + 2 * g + 2)?))
        };
        (b > a).then_some((self.glyf + a, self.glyf + b))
    }

    /// The outline of a glyph (font units, y up); empty for a space.
    pub fn outline(&self, gid: u16) -> Vec<Contour> {
        let mut out = Vec::new();
        self.outline_into(gid, [1.0, 0.0, 0.0, 1.0, 0.0, 0.0], 0, &mut out);
        out
    }

    /// Appends the contours of `gid` transformed by `m` = [a, b, c, d, e, f]
    /// (x' = a x + c y + e, y' = b x + d y + f).
    fn outline_into(&self, gid: u16, m: [f64; 6], depth: u32, out: &mut Vec<Contour>) -> Option<()> {
        let (o, end) = self.glyph_range(gid)?;
        let d = &self.data[..end];
        let n_contours = i16_at(d, o)?;
        let tf = |x: f64, y: f64| (m[0] * x + m[2] * y + m[4], m[1] * x + m[3] * y + m[5]);
        if n_contours >= 0 {
            let nc = n_contours as usize;
            let ends: Vec<usize> = (0..nc).map(|k| u16_at(d, o + 10 + 2 * k).map(usize::from)).collect::<Option<_>>()?;
            let n_pts = ends.last().map_or(0, |&e| e + 1);
            let ins = usize::from(u16_at(d, o + 10 + 2 * nc)?);
            let mut at = o + 12 + 2 * nc + ins;
            let mut flags = Vec::with_capacity(n_pts);
            while flags.len() < n_pts {
                let f = *d.get(at)?;
                at += 1;
                flags.push(f);
                if f & 8 != 0 {
                    let rep = *d.get(at)?;
                    at += 1;
                    flags.extend(std::iter::repeat_n(f, usize::from(rep)));
                }
            }
            flags.truncate(n_pts);
            let mut coord = |short: u8, same: u8| -> Option<Vec<f64>> {
                let mut v = 0i32;
                let mut out = Vec::with_capacity(n_pts);
                for &f in &flags {
                    if f & short != 0 {
                        let dv = i32::from(*d.get(at)?);
                        at += 1;
                        v += if f & same != 0 { dv } else { -dv };
                    } else if f & same == 0 {
                        v += i32::from(i16_at(d, at)?);
                        at += 2;
                    }
                    out.push(f64::from(v));
                }
                Some(out)
            };
            let xs = coord(0x02, 0x10)?;
            let ys = coord(0x04, 0x20)?;
            let mut first = 0;
            for &e in &ends {
                let pts: Vec<(P, bool)> = (first..=e).map(|k| (tf(xs[k], ys[k]), flags[k] & 1 != 0)).collect();
                first = e + 1;
                if let Some(c) = contour(&pts) {
                    out.push(c);
                }
            }
        } else {
            if depth > 8 {
                return None;
            }
            let mut at = o + 10;
            loop {
                let flags = u16_at(d, at)?;
                let child = u16_at(d, at + 2)?;
                at += 4;
                let (dx, dy) = if flags & 1 != 0 {
                    let v = (f64::from(i16_at(d, at)?), f64::from(i16_at(d, at + 2)?));
                    at += 4;
                    v
                } else {
                    let v = (f64::from(*d.get(at)? as i8), f64::from(*d.get(at + 1)? as i8));
                    at += 2;
                    v
                };
                let f2 = |o: usize| i16_at(d, o).map(|v| f64::from(v) / 16384.0);
                let (a, b, c, dd) = if flags & 0x08 != 0 {
                    let s = f2(at)?;
                    at += 2;
                    (s, 0.0, 0.0, s)
                } else if flags & 0x40 != 0 {
                    let v = (f2(at)?, 0.0, 0.0, f2(at + 2)?);
                    at += 4;
                    v
                } else if flags & 0x80 != 0 {
                    let v = (f2(at)?, f2(at + 2)?, f2(at + 4)?, f2(at + 6)?);
                    at += 8;
                    v
                } else {
                    (1.0, 0.0, 0.0, 1.0)
                };
                // Offsets as x/y values (point matching is not used by DejaVu).
                let (dx, dy) = if flags & 2 != 0 { (dx, dy) } else { (0.0, 0.0) };
                let inner = [a, b, c, dd, dx, dy];
                // m ∘ inner
                let comp = [
                    m[0] * inner[0] + m[2] * inner[1],
                    m[1] * inner[0] + m[3] * inner[1],
                    m[0] * inner[2] + m[2] * inner[3],
                    m[1] * inner[2] + m[3] * inner[3],
                    m[0] * inner[4] + m[2] * inner[5] + m[4],
                    m[1] * inner[4] + m[3] * inner[5] + m[5],
                ];
                self.outline_into(child, comp, depth + 1, out);
                if flags & 0x20 == 0 {
                    break;
                }
            }
        }
        Some(())
    }
}

fn mid(a: P, b: P) -> P {
    ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0)
}

/// A TrueType contour (points with on-curve flags) as line and quadratic
/// segments: two off-curve points in a row imply an on-curve point between.
fn contour(pts: &[(P, bool)]) -> Option<Contour> {
    let n = pts.len();
    if n < 2 {
        return None;
    }
    let (start, seq): (P, Vec<(P, bool)>) = if pts[0].1 {
        (pts[0].0, pts[1..].to_vec())
    } else if pts[n - 1].1 {
        (pts[n - 1].0, pts[..n - 1].to_vec())
    } else {
        (mid(pts[n - 1].0, pts[0].0), pts.to_vec())
    };
    let mut segs = Vec::with_capacity(n);
    let mut ctrl: Option<P> = None;
    for (p, on) in seq {
        match (on, ctrl) {
            (true, None) => segs.push(Seg::Line(p)),
            (true, Some(c)) => {
                segs.push(Seg::Quad(c, p));
                ctrl = None;
            }
            (false, None) => ctrl = Some(p),
            (false, Some(c)) => {
                segs.push(Seg::Quad(c, mid(c, p)));
                ctrl = Some(p);
            }
        }
    }
    segs.push(match ctrl {
        Some(c) => Seg::Quad(c, start),
        None => Seg::Line(start),
    });
    Some(Contour { start, segs })
}

/// The four faces, parsed once.
pub fn font(face: Face) -> &'static Font {
    static FONTS: OnceLock<Vec<Font>> = OnceLock::new();
    let all = FONTS.get_or_init(|| {
        [dejavu::sans::regular(), dejavu::sans::oblique(), dejavu::sans::bold(), dejavu::sans::bold_oblique()]
            .into_iter()
            .map(|d| Font::parse(d).expect("DejaVu Sans, compiled in, is a valid TrueType font"))
            .collect()
    });
    &all[face as usize]
}

// ------------------------------------------------------------- layout

/// Size of indices relative to the text, and their baseline shifts (fractions
/// of the text size, down positive).
const INDEX_SCALE: f64 = 0.7;
const SUB_SHIFT: f64 = 0.2;
const SUP_SHIFT: f64 = -0.36;

/// One glyph placed on a line: `(x, y)` its origin on the baseline in pixels
/// (y down) relative to the start of the line's baseline.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placed {
    pub face: Face,
    pub gid: u16,
    pub x: f64,
    pub y: f64,
    /// Pixels per font unit.
    pub scale: f64,
}

/// A laid-out line of text.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub glyphs: Vec<Placed>,
    pub width: f64,
    /// Above and below the baseline, in pixels (of the base size).
    pub ascent: f64,
    pub descent: f64,
    pub size: f64,
}

/// Pixels per font unit for a text size: `size` is the line height
/// (ascender − descender), the convention of plotters' ab_glyph fonts.
fn px_per_unit(f: &Font, size: f64) -> f64 {
    size / (f.ascender - f.descender)
}

/// Lays out markup at `size` pixels.
pub fn lay_out(markup: &str, size: f64, bold: bool) -> Line {
    let base = font(Face::Regular);
    let mut glyphs = Vec::new();
    let mut x = 0.0;
    let mut prev_italic = false;
    for run in parse(markup) {
        let face = Face::of(bold, run.italic);
        let (rs, dy) = match run.script {
            Script::Base => (size, 0.0),
            Script::Sub => (size * INDEX_SCALE, SUB_SHIFT * size),
            Script::Sup => (size * INDEX_SCALE, SUP_SHIFT * size),
        };
        // Italic correction: an index tucks under a slanted letter, a
        // superscript clears its top.
        if prev_italic {
            x += match run.script {
                Script::Sub => -0.04 * size,
                Script::Sup => 0.05 * size,
                Script::Base => 0.0,
            };
        }
        let mut prev: Option<(Face, u16)> = None;
        for c in run.text.chars() {
            let (mut fc, mut gid) = (face, font(face).glyph_id(c));
            if gid == 0 {
                for alt in [Face::of(bold, false), Face::Regular] {
                    let g = font(alt).glyph_id(c);
                    if g != 0 {
                        (fc, gid) = (alt, g);
                        break;
                    }
                }
            }
            let f = font(fc);
            let s = px_per_unit(f, rs);
            if let Some((pf, pg)) = prev {
                if pf == fc {
                    x += f.kerning(pg, gid) * s;
                }
            }
            glyphs.push(Placed { face: fc, gid, x, y: dy, scale: s });
            x += f.advance(gid) * s;
            prev = Some((fc, gid));
        }
        prev_italic = run.italic && run.script == Script::Base;
    }
    let s = px_per_unit(base, size);
    Line { glyphs, width: x, ascent: base.ascender * s, descent: -base.descender * s, size }
}

/// Width of markup set at `size` pixels.
pub fn width(markup: &str, size: f64) -> f64 {
    lay_out(markup, size, false).width
}

/// Horizontal anchor of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HAlign {
    Left,
    Center,
    Right,
}

/// Vertical anchor: the top of the line box, the middle of the capitals,
/// the baseline, or the bottom of the line box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VAlign {
    Top,
    Center,
    Baseline,
    Bottom,
}

/// Height of DejaVu Sans capitals (OS/2 sCapHeight = 1493 of 2048 units), per
/// unit of text size.
const CAP: f64 = 1493.0 / 2384.0;

impl Line {
    /// Offset from the anchor to the start of the baseline, in the line's own
    /// frame.
    pub fn offset(&self, h: HAlign, v: VAlign) -> P {
        let dx = match h {
            HAlign::Left => 0.0,
            HAlign::Center => -self.width / 2.0,
            HAlign::Right => -self.width,
        };
        let dy = match v {
            VAlign::Top => self.ascent,
            VAlign::Center => CAP * self.size / 2.0,
            VAlign::Baseline => 0.0,
            VAlign::Bottom => -self.descent,
        };
        (dx, dy)
    }
}

/// Where and how a line is set: anchor point in pixels, alignment, and
/// whether it is turned a quarter left (reading upwards, for y-axis titles).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Place {
    pub at: P,
    pub h: HAlign,
    pub v: VAlign,
    pub upright: bool,
}

impl Place {
    /// Pixel position of a point given in the line's frame (relative to its anchor).
    fn map(&self, p: P) -> P {
        if self.upright {
            (self.at.0 + p.0, self.at.1 + p.1)
        } else {
            (self.at.0 + p.1, self.at.1 - p.0)
        }
    }
}

/// The glyph outlines of a placed line as closed polygons in pixels, curves
/// flattened to within 0.05 px.
pub fn polygons(line: &Line, place: &Place) -> Vec<Vec<P>> {
    let (ox, oy) = line.offset(place.h, place.v);
    let mut out = Vec::new();
    for g in &line.glyphs {
        let f = font(g.face);
        let to = |p: P| place.map((ox + g.x + p.0 * g.scale, oy + g.y - p.1 * g.scale));
        for c in f.outline(g.gid) {
            let mut poly = vec![to(c.start)];
            let mut cur = c.start;
            for s in &c.segs {
                match *s {
                    Seg::Line(p) => {
                        poly.push(to(p));
                        cur = p;
                    }
                    Seg::Quad(k, p) => {
                        // Deviation of the curve from its chord, in pixels.
                        let dev = ((cur.0 - 2.0 * k.0 + p.0).hypot(cur.1 - 2.0 * k.1 + p.1) / 4.0) * g.scale;
                        let n = ((dev / 0.05).sqrt().ceil() as usize).clamp(1, 16);
                        for j in 1..=n {
                            let t = j as f64 / n as f64;
                            let u = 1.0 - t;
                            poly.push(to((u * u * cur.0 + 2.0 * u * t * k.0 + t * t * p.0, u * u * cur.1 + 2.0 * u * t * k.1 + t * t * p.1)));
                        }
                        cur = p;
                    }
                }
            }
            out.push(poly);
        }
    }
    out
}

// ------------------------------------------------------------- raster

/// Anti-aliased coverage of closed polygons (non-zero winding, accumulated
/// signed area per pixel): `(x0, y0, w, h, coverage in 0..=1 row-major)`, or
/// `None` if there is nothing to fill.
pub fn coverage(polys: &[Vec<P>]) -> Option<(i32, i32, usize, usize, Vec<f32>)> {
    let pts = polys.iter().flatten();
    let (mut x0, mut y0, mut x1, mut y1) = (f64::INFINITY, f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY);
    for p in pts {
        x0 = x0.min(p.0);
        y0 = y0.min(p.1);
        x1 = x1.max(p.0);
        y1 = y1.max(p.1);
    }
    if !(x1 > x0 && y1 > y0 && x0.is_finite() && y1.is_finite()) {
        return None;
    }
    let (bx, by) = (x0.floor() as i32 - 1, y0.floor() as i32 - 1);
    let (w, h) = ((x1.ceil() as i32 - bx + 2) as usize, (y1.ceil() as i32 - by + 2) as usize);
    let mut acc = vec![0f32; w * h + 2];
    for poly in polys {
        for k in 0..poly.len() {
            let a = poly[k];
            let b = poly[(k + 1) % poly.len()];
            line(&mut acc, w, h, ((a.0 - f64::from(bx)) as f32, (a.1 - f64::from(by)) as f32), ((b.0 - f64::from(bx)) as f32, (b.1 - f64::from(by)) as f32));
        }
    }
    let mut s = 0f32;
    let cov = acc[..w * h]
        .iter()
        .map(|a| {
            s += a;
            s.abs().min(1.0)
        })
        .collect();
    Some((bx, by, w, h, cov))
}

/// Adds the signed area a line contributes to each pixel (the accumulation
/// rasterizer of font-rs); a running sum over each row then gives the coverage.
fn line(acc: &mut [f32], w: usize, h: usize, p0: (f32, f32), p1: (f32, f32)) {
    if (p0.1 - p1.1).abs() <= f32::EPSILON {
        return;
    }
    let (dir, p0, p1) = if p0.1 < p1.1 { (1.0, p0, p1) } else { (-1.0, p1, p0) };
    let dxdy = (p1.0 - p0.0) / (p1.1 - p0.1);
    let mut x = p0.0;
    let y_start = p0.1.max(0.0) as usize;
    if p0.1 < 0.0 {
        x -= p0.1 * dxdy;
    }
    for y in y_start..h.min(p1.1.ceil() as usize) {
        let row = y * w;
        let dy = ((y + 1) as f32).min(p1.1) - (y as f32).max(p0.1);
        let xnext = x + dxdy * dy;
        let d = dy * dir;
        let (xa, xb) = if x < xnext { (x, xnext) } else { (xnext, x) };
        let xa_floor = xa.floor();
        let xai = xa_floor as usize;
        let xb_ceil = xb.ceil();
        let xbi = xb_ceil as usize;
        if xbi <= xai + 1 {
            let xmf = 0.5 * (x + xnext) - xa_floor;
            acc[row + xai] += d - d * xmf;
            acc[row + xai + 1] += d * xmf;
        } else {
            let s = (xb - xa).recip();
            let xaf = xa - xa_floor;
            let a0 = 0.5 * s * (1.0 - xaf) * (1.0 - xaf);
            let xbf = xb - xb_ceil + 1.0;
            let am = 0.5 * s * xbf * xbf;
            acc[row + xai] += d * a0;
            if xbi == xai + 2 {
                acc[row + xai + 1] += d * (1.0 - a0 - am);
            } else {
                let a1 = s * (1.5 - xaf);
                acc[row + xai + 1] += d * (a1 - a0);
                for xi in xai + 2..xbi - 1 {
                    acc[row + xi] += d * s;
                }
                let a2 = a1 + (xbi - xai - 3) as f32 * s;
                acc[row + xbi - 1] += d * (1.0 - a2 - am);
            }
            acc[row + xbi] += d * am;
        }
        x = xnext;
    }
}

// ------------------------------------------------------------- SVG

/// Text for an SVG document: one outline per glyph used (in `<defs>`, in font
/// units, exact quadratic curves) and one `<use>` per glyph drawn, so the file
/// needs no font and stays small.
#[derive(Debug, Default)]
pub struct SvgText {
    defs: HashMap<(Face, u16), String>,
    order: Vec<(Face, u16)>,
    body: String,
}

fn glyph_id_attr(face: Face, gid: u16) -> String {
    format!("qg{}-{gid}", face as u8)
}

/// Escapes text for an XML attribute.
pub fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            c => o.push(c),
        }
    }
    o
}

impl SvgText {
    /// Adds a placed line in `color` (`#rrggbb`) with its plain text as the
    /// accessible name.
    pub fn add(&mut self, markup: &str, line: &Line, place: &Place, color: &str, opacity: f64) {
        let (ox, oy) = line.offset(place.h, place.v);
        let rot = if place.upright { String::new() } else { " rotate(-90)".into() };
        let op = if opacity < 1.0 { format!(" fill-opacity=\"{opacity:.3}\"") } else { String::new() };
        let _ = write!(
            self.body,
            "<g aria-label=\"{}\" fill=\"{color}\"{op} transform=\"translate({:.2} {:.2}){rot}\">",
            xml_escape(&plain(markup)),
            place.at.0,
            place.at.1
        );
        for g in &line.glyphs {
            let key = (g.face, g.gid);
            let outline = font(g.face).outline(g.gid);
            if outline.is_empty() {
                continue;
            }
            if let std::collections::hash_map::Entry::Vacant(e) = self.defs.entry(key) {
                e.insert(path_data(&outline));
                self.order.push(key);
            }
            let _ = write!(
                self.body,
                "<use xlink:href=\"#{}\" transform=\"translate({:.2} {:.2}) scale({:.6} {:.6})\"/>",
                glyph_id_attr(g.face, g.gid),
                ox + g.x,
                oy + g.y,
                g.scale,
                -g.scale
            );
        }
        self.body.push_str("</g>\n");
    }

    /// The `<defs>` and the text, to go at the end of the document (text is
    /// drawn over everything else).
    pub fn fragment(&self) -> String {
        if self.body.is_empty() {
            return String::new();
        }
        let mut s = String::from("<defs>\n");
        for key in &self.order {
            let _ = writeln!(s, "<path id=\"{}\" d=\"{}\"/>", glyph_id_attr(key.0, key.1), self.defs[key]);
        }
        s.push_str("</defs>\n");
        s.push_str(&self.body);
        s
    }
}

/// SVG path data of an outline in font units.
fn path_data(c: &[Contour]) -> String {
    let mut d = String::new();
    let r = |v: f64| (v * 10.0).round() / 10.0;
    for k in c {
        let _ = write!(d, "M{} {}", r(k.start.0), r(k.start.1));
        for s in &k.segs {
            let _ = match *s {
                Seg::Line(p) => write!(d, "L{} {}", r(p.0), r(p.1)),
                Seg::Quad(q, p) => write!(d, "Q{} {} {} {}", r(q.0), r(q.1), r(p.0), r(p.1)),
            };
        }
        d.push('Z');
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, script: Script, italic: bool) -> Run {
        Run { text: text.into(), script, italic }
    }

    #[test]
    fn indices_split_into_base_and_subscript_runs() {
        assert_eq!(parse("γ_{a}"), vec![run("γ", Script::Base, true), run("a", Script::Sub, false)]);
        assert_eq!(parse("E_B"), vec![run("E", Script::Base, true), run("B", Script::Sub, false)]);
        // An unbraced index takes letters and digits, not what follows.
        assert_eq!(parse("δ_ra = 1"), vec![run("δ", Script::Base, true), run("ra", Script::Sub, false), run(" = 1", Script::Base, false)]);
        assert_eq!(parse("E_r²")[2], run("²", Script::Base, false));
        assert_eq!(
            parse("n_{th,b}"),
            vec![run("n", Script::Base, true), run("th,b", Script::Sub, false)]
        );
        assert_eq!(parse("10^{−3}"), vec![run("10", Script::Base, false), run("−3", Script::Sup, false)]);
    }

    #[test]
    fn single_letters_are_italic_words_are_not() {
        let italics = |s: &str| -> String { parse(s).into_iter().filter(|r| r.italic).map(|r| r.text).collect::<Vec<_>>().join(",") };
        assert_eq!(italics("τ = g t (dimensionless)"), "τ,g,t");
        assert_eq!(italics("Re[−iλ₊]"), "iλ");
        assert_eq!(italics("Γ_eff and the phase"), "");
        assert_eq!(italics("not realizable by a passive system"), "");
        assert_eq!(italics("⟨b†b⟩"), "b,b");
        assert_eq!(italics("1.5e−5 at E"), "E");
        assert_eq!(italics("\\dE_B/\\dt"), "E,t");
        assert_eq!(italics("the paper's curve, e.g. at t"), "t");
    }

    #[test]
    fn escapes_are_literal_and_plain_text_reads_back() {
        let s = escape("energy_b_final");
        assert_eq!(parse(&s), vec![run("energy_b_final", Script::Base, false)]);
        assert_eq!(parse(&format!("E_B of {}", escape("fig3a.h5")))[2], run(" of fig3a.h5", Script::Base, false));
        assert_eq!(plain("γ_{a} = 1, 10^{−3}"), "γ_a = 1, 10^−3");
        assert_eq!(plain(&escape("model.kappa[2]")), "model.kappa[2]");
        // A lone underscore stays.
        assert_eq!(plain("a _ b"), "a _ b");
    }

    #[test]
    fn the_font_maps_characters_and_outlines_glyphs() {
        let f = font(Face::Regular);
        assert_eq!(f.units_per_em, 2048.0);
        for c in ['E', 'γ', 'λ', '₊', '⟨', '†', '−', 'ħ', '²'] {
            assert_ne!(f.glyph_id(c), 0, "{c}");
        }
        // 'o' has an outer and an inner contour; a space none.
        assert_eq!(f.outline(f.glyph_id('o')).len(), 2);
        assert!(f.outline(f.glyph_id(' ')).is_empty());
        // A composite glyph (é = e + acute) has the contours of both.
        assert!(f.outline(f.glyph_id('é')).len() >= 3);
        // The oblique face slants: the top of 'l' lies right of its bottom.
        let o = font(Face::Oblique);
        let l = o.outline(o.glyph_id('l'));
        let pts: Vec<P> = l.iter().flat_map(|c| c.segs.iter().map(|s| match *s { Seg::Line(p) | Seg::Quad(_, p) => p })).collect();
        let top = pts.iter().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
        let bot = pts.iter().min_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
        assert!(top.0 > bot.0 + 100.0, "{top:?} {bot:?}");
    }

    #[test]
    fn subscripts_sit_lower_and_smaller() {
        let l = lay_out("E_B", 20.0, false);
        assert_eq!(l.glyphs.len(), 2);
        let (e, b) = (l.glyphs[0], l.glyphs[1]);
        assert_eq!(e.face, Face::Oblique);
        assert_eq!(b.face, Face::Regular);
        assert!(b.y > 3.0 && b.scale < e.scale * 0.75, "{e:?} {b:?}");
        assert!(b.x > e.x);
    }

    #[test]
    fn coverage_of_a_square_is_its_area() {
        let sq = vec![vec![(2.25, 3.5), (12.25, 3.5), (12.25, 9.0), (2.25, 9.0)]];
        let (_, _, _, _, c) = coverage(&sq).unwrap();
        let total: f32 = c.iter().sum();
        assert!((total - 55.0).abs() < 1e-3, "{total}");
        // A hole (reversed inner square) is not filled.
        let holed = vec![sq[0].clone(), vec![(4.0, 5.0), (4.0, 7.0), (8.0, 7.0), (8.0, 5.0)]];
        let (_, _, _, _, c) = coverage(&holed).unwrap();
        assert!((c.iter().sum::<f32>() - 47.0).abs() < 1e-3);
    }
}
