//! Plane geometry for the maps: cell edges of a grid, the zero contour by
//! marching squares, merging flagged cells into rectangles, and hatching
//! rectangles with a line pattern that continues across their borders.
//! Pure functions on data coordinates, so they are tested without drawing.

/// A segment from one point to another.
pub type Segment = ((f64, f64), (f64, f64));

/// Cell edges of a grid whose values sit at the cell centres `c` (sorted
/// either way): midpoints between neighbours, and half a step beyond the ends.
/// In log space (`log`) for a logarithmic axis, so cells look equal there.
/// A single centre gets a cell of width 1 (a factor of 10 on a log axis).
pub fn cell_edges(c: &[f64], log: bool) -> Vec<f64> {
    let fwd = |x: f64| if log { x.log10() } else { x };
    let back = |x: f64| if log { 10f64.powf(x) } else { x };
    let t: Vec<f64> = c.iter().map(|&x| fwd(x)).collect();
    match t.len() {
        0 => Vec::new(),
        1 => vec![back(t[0] - 0.5), back(t[0] + 0.5)],
        n => {
            let mut e = Vec::with_capacity(n + 1);
            e.push(t[0] - (t[1] - t[0]) / 2.0);
            e.extend(t.windows(2).map(|w| (w[0] + w[1]) / 2.0));
            e.push(t[n - 1] + (t[n - 1] - t[n - 2]) / 2.0);
            e.into_iter().map(back).collect()
        }
    }
}

/// The zero contour of `z` (row-major `[y.len(), x.len()]`, values at the grid
/// points) as line segments, by marching squares with linear interpolation
/// along the cell edges. "Positive" is `z > 0`, so a curve separates z > 0 from
/// z ≤ 0; a saddle cell is resolved by the sign of its centre average. Cells
/// with a non-finite corner are skipped.
pub fn zero_contour(x: &[f64], y: &[f64], z: &[f64]) -> Vec<Segment> {
    let (nx, ny) = (x.len(), y.len());
    let mut out = Vec::new();
    if nx < 2 || ny < 2 || z.len() != nx * ny {
        return out;
    }
    let at = |i: usize, j: usize| z[i * nx + j];
    for i in 0..ny - 1 {
        for j in 0..nx - 1 {
            // Corners counter-clockwise from bottom-left: (x, y, z).
            let c = [
                (x[j], y[i], at(i, j)),
                (x[j + 1], y[i], at(i, j + 1)),
                (x[j + 1], y[i + 1], at(i + 1, j + 1)),
                (x[j], y[i + 1], at(i + 1, j)),
            ];
            if c.iter().any(|p| !p.2.is_finite()) {
                continue;
            }
            let pos = c.map(|p| p.2 > 0.0);
            // Edge k joins corner k and k+1; its crossing if the signs differ.
            let cross = |k: usize| -> Option<(f64, f64)> {
                let (a, b) = (c[k], c[(k + 1) % 4]);
                if pos[k] == pos[(k + 1) % 4] {
                    return None;
                }
                let t = if a.2 == b.2 { 0.5 } else { a.2 / (a.2 - b.2) };
                let t = t.clamp(0.0, 1.0);
                Some((a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1)))
            };
            let edges: Vec<(usize, (f64, f64))> = (0..4).filter_map(|k| cross(k).map(|p| (k, p))).collect();
            match edges.len() {
                2 => out.push((edges[0].1, edges[1].1)),
                4 => {
                    // Saddle: the corners whose sign differs from the centre's
                    // are cut off, each by a segment between its two edges
                    // (corner k touches edges k-1 and k).
                    let centre = c.iter().map(|p| p.2).sum::<f64>() / 4.0 > 0.0;
                    for k in (0..4).filter(|&k| pos[k] != centre) {
                        let prev = edges[(k + 3) % 4].1;
                        let next = edges[k].1;
                        out.push((prev, next));
                    }
                }
                _ => {}
            }
        }
    }
    out
}

/// An axis-aligned rectangle in index space: columns `j0..j1`, rows `i0..i1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellRect {
    pub j0: usize,
    pub j1: usize,
    pub i0: usize,
    pub i1: usize,
}

/// Merges the flagged cells of a row-major `[ny, nx]` mask into rectangles:
/// runs along each row, then identical runs of consecutive rows. Covers
/// exactly the flagged cells; few rectangles for the regions qbsim draws
/// (the unrealizable region depends on α only), which keeps SVGs small.
pub fn merge_cells(mask: &[bool], nx: usize, ny: usize) -> Vec<CellRect> {
    let mut done: Vec<CellRect> = Vec::new();
    let mut open: Vec<CellRect> = Vec::new();
    for i in 0..ny {
        let row = &mask[i * nx..(i + 1) * nx];
        let mut runs = Vec::new();
        let mut j = 0;
        while j < nx {
            if row[j] {
                let j0 = j;
                while j < nx && row[j] {
                    j += 1;
                }
                runs.push((j0, j));
            } else {
                j += 1;
            }
        }
        let mut next_open = Vec::new();
        for (j0, j1) in runs {
            if let Some(pos) = open.iter().position(|r| r.j0 == j0 && r.j1 == j1) {
                let mut r = open.swap_remove(pos);
                r.i1 = i + 1;
                next_open.push(r);
            } else {
                next_open.push(CellRect { j0, j1, i0: i, i1: i + 1 });
            }
        }
        done.append(&mut open);
        open = next_open;
    }
    done.append(&mut open);
    done
}

/// Diagonal hatching ("/") of the rectangle `[u0, u1] × [v0, v1]` in
/// normalized plot coordinates (0..1 across each axis): the lines
/// u − v = k·spacing clipped to the rectangle. Lines of one global family, so
/// neighbouring rectangles hatch seamlessly.
pub fn hatch(u0: f64, u1: f64, v0: f64, v1: f64, spacing: f64) -> Vec<Segment> {
    let mut out = Vec::new();
    if spacing <= 0.0 || !(u1 > u0 && v1 > v0) {
        return out;
    }
    let kmin = ((u0 - v1) / spacing).ceil() as i64;
    let kmax = ((u1 - v0) / spacing).floor() as i64;
    for k in kmin..=kmax {
        let d = k as f64 * spacing;
        // On the line v = u − d: u within [u0, u1] and u − d within [v0, v1].
        let lo = u0.max(v0 + d);
        let hi = u1.min(v1 + d);
        if hi > lo {
            out.push(((lo, lo - d), (hi, hi - d)));
        }
    }
    out
}

/// The part of segment `a`–`b` inside the box `[x0, x1] × [y0, y1]`
/// (Liang–Barsky), or `None`. Plotters does not clip to the plotting area, so
/// every shape is clipped here before it is drawn.
pub fn clip_segment(a: (f64, f64), b: (f64, f64), x0: f64, x1: f64, y0: f64, y1: f64) -> Option<Segment> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [(-dx, a.0 - x0), (dx, x1 - a.0), (-dy, a.1 - y0), (dy, y1 - a.1)] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                t0 = t0.max(r);
            } else {
                t1 = t1.min(r);
            }
        }
    }
    if t0 > t1 {
        return None;
    }
    Some(((a.0 + t0 * dx, a.1 + t0 * dy), (a.0 + t1 * dx, a.1 + t1 * dy)))
}

/// A polyline clipped to a box: the runs of it inside, each a polyline of its
/// own. Non-finite points break the line (a NaN marks "no value here").
pub fn clip_polyline(pts: &[(f64, f64)], x0: f64, x1: f64, y0: f64, y1: f64) -> Vec<Vec<(f64, f64)>> {
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut cur: Vec<(f64, f64)> = Vec::new();
    let finite = |p: &(f64, f64)| p.0.is_finite() && p.1.is_finite();
    let inside = |p: (f64, f64)| (x0..=x1).contains(&p.0) && (y0..=y1).contains(&p.1);
    let flush = |cur: &mut Vec<(f64, f64)>, runs: &mut Vec<Vec<(f64, f64)>>| {
        if !cur.is_empty() {
            runs.push(std::mem::take(cur));
        }
    };
    if pts.len() == 1 && finite(&pts[0]) && inside(pts[0]) {
        return vec![pts.to_vec()];
    }
    for w in pts.windows(2) {
        let (a, b) = (w[0], w[1]);
        if !finite(&a) || !finite(&b) {
            flush(&mut cur, &mut runs);
            continue;
        }
        match clip_segment(a, b, x0, x1, y0, y1) {
            None => flush(&mut cur, &mut runs),
            Some((p, q)) => {
                if cur.last() != Some(&p) {
                    flush(&mut cur, &mut runs);
                    cur.push(p);
                }
                cur.push(q);
                if q != b {
                    flush(&mut cur, &mut runs);
                }
            }
        }
    }
    flush(&mut cur, &mut runs);
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_are_midpoints_and_half_steps() {
        assert_eq!(cell_edges(&[0.0, 1.0, 2.0], false), vec![-0.5, 0.5, 1.5, 2.5]);
        let e = cell_edges(&[1.0, 10.0, 100.0], true);
        let want = [10f64.powf(-0.5), 10f64.powf(0.5), 10f64.powf(1.5), 10f64.powf(2.5)];
        assert!(e.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-9 * b));
        assert_eq!(cell_edges(&[3.0], false), vec![2.5, 3.5]);
    }

    #[test]
    fn contour_of_a_plane_is_the_zero_line() {
        // z = x − 0.3 on a 5×4 grid: the contour is the vertical line x = 0.3.
        let x = [0.0, 0.25, 0.5, 0.75, 1.0];
        let y = [0.0, 1.0, 2.0, 3.0];
        let z: Vec<f64> = y.iter().flat_map(|_| x.iter().map(|&xv| xv - 0.3)).collect();
        let segs = zero_contour(&x, &y, &z);
        assert_eq!(segs.len(), 3);
        for (a, b) in segs {
            assert!((a.0 - 0.3).abs() < 1e-12 && (b.0 - 0.3).abs() < 1e-12);
            assert!((a.1 - b.1).abs() == 1.0);
        }
    }

    #[test]
    fn contour_of_a_circle_closes_and_stays_on_it() {
        // z = 1 − r²: contour points lie near r = 1, and every end point is
        // shared by exactly two segments (a closed curve).
        // Offset grid: no grid point lies exactly on the circle.
        let ax: Vec<f64> = (0..41).map(|k| -2.013 + 0.1 * k as f64).collect();
        let z: Vec<f64> = ax.iter().flat_map(|&y| ax.iter().map(move |&x| 1.0 - x * x - y * y)).collect();
        let segs = zero_contour(&ax, &ax, &z);
        assert!(segs.len() > 30);
        let key = |p: (f64, f64)| ((p.0 * 1e7).round() as i64, (p.1 * 1e7).round() as i64);
        let mut count = std::collections::HashMap::new();
        for (a, b) in &segs {
            for p in [a, b] {
                assert!(((p.0 * p.0 + p.1 * p.1).sqrt() - 1.0).abs() < 0.01);
                *count.entry(key(*p)).or_insert(0) += 1;
            }
        }
        assert!(count.values().all(|&c| c == 2));
    }

    #[test]
    fn saddle_cells_give_two_segments() {
        let x = [0.0, 1.0];
        let y = [0.0, 1.0];
        // Corners: bl +, br −, tr +, tl − ; centre average > 0 → the negative corners are cut off.
        let z = [1.0, -1.0, -1.0, 2.0];
        let segs = zero_contour(&x, &y, &z);
        assert_eq!(segs.len(), 2);
        // Skipped cell with NaN.
        assert!(zero_contour(&x, &y, &[1.0, f64::NAN, -1.0, 2.0]).is_empty());
    }

    #[test]
    fn merged_rectangles_cover_exactly_the_mask() {
        let (nx, ny) = (7, 5);
        let mask: Vec<bool> = (0..nx * ny).map(|k| (k / nx < 3 && k % nx < 4) || k % nx == 6).collect();
        let rects = merge_cells(&mask, nx, ny);
        let mut cover = vec![0; nx * ny];
        for r in &rects {
            for i in r.i0..r.i1 {
                for j in r.j0..r.j1 {
                    cover[i * nx + j] += 1;
                }
            }
        }
        assert!(cover.iter().zip(&mask).all(|(&c, &m)| c == usize::from(m)));
        assert_eq!(rects.len(), 2, "{rects:?}");
    }

    #[test]
    fn hatch_lines_stay_inside_and_align_across_neighbours() {
        let a = hatch(0.0, 0.5, 0.0, 1.0, 0.1);
        let b = hatch(0.5, 1.0, 0.0, 1.0, 0.1);
        for &((u, v), (u2, v2)) in a.iter().chain(&b) {
            assert!((u - v - (u2 - v2)).abs() < 1e-12, "on a diagonal");
            assert!([u, v, u2, v2].iter().all(|c| (-1e-12..=1.0 + 1e-12).contains(c)));
        }
        // A line leaving the left rectangle at u = 0.5 (below its top corner)
        // enters the right one there.
        let exits: Vec<f64> = a.iter().filter(|s| (s.1 .0 - 0.5).abs() < 1e-12 && s.1 .1 < 1.0 - 1e-9).map(|s| s.1 .1).collect();
        assert!(exits.len() >= 4);
        for v in exits {
            assert!(b.iter().any(|s| (s.0 .0 - 0.5).abs() < 1e-12 && (s.0 .1 - v).abs() < 1e-12));
        }
    }

    #[test]
    fn clipping_keeps_the_inside_and_breaks_at_gaps() {
        assert_eq!(clip_segment((-1.0, 0.5), (2.0, 0.5), 0.0, 1.0, 0.0, 1.0), Some(((0.0, 0.5), (1.0, 0.5))));
        assert_eq!(clip_segment((-1.0, 2.0), (2.0, 2.0), 0.0, 1.0, 0.0, 1.0), None);
        // Up out of the box and back: two runs; a NaN: a break.
        let pts = [(0.0, 0.5), (0.5, 2.0), (1.0, 0.5)];
        let runs = clip_polyline(&pts, 0.0, 1.0, 0.0, 1.0);
        assert_eq!(runs.len(), 2);
        assert!(runs.iter().flatten().all(|p| p.1 <= 1.0 + 1e-12));
        let runs = clip_polyline(&[(0.0, 0.1), (0.2, 0.2), (0.4, f64::NAN), (0.6, 0.3), (0.8, 0.4)], 0.0, 1.0, 0.0, 1.0);
        assert_eq!(runs, vec![vec![(0.0, 0.1), (0.2, 0.2)], vec![(0.6, 0.3), (0.8, 0.4)]]);
    }
}
