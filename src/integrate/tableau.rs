//! Butcher tableaux of the two embedded pairs, with their error estimators and
//! continuous extensions (dense output).
//!
//! Coefficient sources (numbers only; the driver is written from the formulas):
//! * Dormand–Prince 5(4), "DOPRI5": Dormand & Prince (1980), tabulated in
//!   Hairer, Nørsett & Wanner, *Solving ODEs I* (HNW), Table II.5.2. Its
//!   4th-order continuous extension is Shampine's (1986), HNW Sect. II.6
//!   (the dense output of the DOPRI5 code).
//! * DOP853: the 8th-order method of Dormand & Prince (1980) with Hairer's
//!   5th- and 3rd-order embedded estimators and the 7th-order dense output that
//!   needs three extra stages, HNW Sects. II.5, II.6 and II.10, as published
//!   with the DOP853 code of HNW. The 30-digit decimals are kept verbatim.
//!
//! `tests.rs` re-derives every order condition (all rooted trees up to order 8)
//! from these numbers, so a transcription error cannot pass silently.
#![allow(clippy::excessive_precision)]

/// Largest number of stages (main + FSAL + extra dense stages) of any table.
pub(crate) const MAX_STAGES: usize = 16;

/// How the local error of a step is measured (HNW II.4, II.10).
pub(crate) enum ErrorEstimate {
    /// `err_i = h Σ e_j k_j`, norm = RMS of `err_i / sc_i` (HNW (4.11)).
    Rms(&'static [f64]),
    /// DOP853: `err5 = Σ e5_j k_j` (difference to the 5th-order solution) and
    /// `err3 = Σ e3_j k_j` (to the 3rd-order one), combined as
    /// `|h| ‖err5‖² / sqrt(‖err5‖² + 0.01 ‖err3‖²)` (HNW II.10), which behaves
    /// like an 8th-order estimate but stays reliable when `err5` is accidentally
    /// small.
    Dop853 {
        e5: &'static [f64],
        e3: &'static [f64],
    },
}

/// Step-size controller constants of a method (HNW II.4 and, for the PI part,
/// Gustafsson's stabilisation as used in DOPRI5/DOP853, HNW Vol. II Sect. IV.2).
pub(crate) struct Control {
    /// Exponent denominator: the error estimate behaves like `h^q`.
    pub q: f64,
    /// PI "beta"; the proportional exponent is `1/q - beta·beta_weight`.
    pub beta: f64,
    pub beta_weight: f64,
    pub safety: f64,
    pub fac_min: f64,
    pub fac_max: f64,
}

/// An explicit embedded Runge–Kutta pair with dense output.
///
/// Stage numbering (0-based): `0..m` are the stages of a step, stage `m` is the
/// FSAL stage `f(t+h, y_new)` (its row is `b`; it is the next step's stage 0),
/// and `m+1..` are extra stages used only by the dense output.
pub(crate) struct Tableau {
    pub name: &'static str,
    /// Order of the propagated solution.
    pub order: u32,
    /// Order of the continuous extension.
    pub dense_order: u32,
    /// Number of stages of one step, FSAL stage excluded.
    pub m: usize,
    /// Nodes for all stages, FSAL and extra stages included.
    pub c: &'static [f64],
    /// Rows of `A` for stages `1..m` and then for the extra stages. The row of
    /// stage `i` has at most `i` entries (omitted trailing entries are zero).
    pub a: &'static [&'static [f64]],
    /// Weights of the propagated solution (`m` entries).
    pub b: &'static [f64],
    pub err: ErrorEstimate,
    /// Coefficients `d_r` of the continuous extension, one row per term beyond
    /// the cubic Hermite part (see [`Tableau::dense_weights`]).
    pub dense: &'static [&'static [f64]],
    pub control: Control,
}

impl Tableau {
    /// Total number of stages including FSAL and extra dense stages.
    pub fn total_stages(&self) -> usize {
        self.c.len()
    }

    /// Row of `A` for stage `i ≥ 1`.
    pub fn row(&self, i: usize) -> &'static [f64] {
        if i < self.m {
            self.a[i - 1]
        } else if i == self.m {
            self.b
        } else {
            self.a[i - 2]
        }
    }

    /// Whether the error estimator uses the FSAL stage (DOPRI5 does, so the
    /// FSAL stage is computed before the error test; DOP853 does not, so it
    /// is computed only for accepted steps).
    pub fn error_uses_fsal(&self) -> bool {
        match &self.err {
            ErrorEstimate::Rms(e) => e.len() > self.m,
            ErrorEstimate::Dop853 { e5, e3 } => e5.len() > self.m || e3.len() > self.m,
        }
    }

    /// Weights `w_i(θ)` of the continuous extension
    /// `u(t + θh) = y + h Σ_i w_i(θ) k_i` (HNW II.6), over all stages.
    ///
    /// Both DOPRI5 and DOP853 write the interpolant in Hairer's nested form
    /// `y0 + θ(r1 + θ'(r2 + θ(r3 + θ'(r4 + θ(r5 + …)))))`, `θ' = 1-θ`, with
    /// `r1 = Δ = y1-y0`, `r2 = h k_0 - Δ`, `r3 = Δ - h k_m - r2` (a cubic
    /// Hermite interpolant) and `r_{4+j} = h Σ_i d_{j,i} k_i`. Expanding the
    /// products and `Δ = h Σ b_i k_i` gives the weights below; at θ = 1 they are
    /// exactly `b`, at θ = 0 exactly zero.
    pub fn dense_weights(&self, theta: f64, w: &mut [f64; MAX_STAGES]) {
        let th1 = 1.0 - theta;
        // p[0..] = θ, θθ', θ²θ', θ²θ'², θ³θ'², … (alternately times θ' and θ)
        let mut p = [0.0; 4 + MAX_STAGES];
        p[0] = theta;
        for j in 1..3 + self.dense.len() {
            p[j] = p[j - 1] * if j % 2 == 1 { th1 } else { theta };
        }
        w.fill(0.0);
        let wd = p[0] - p[1] + 2.0 * p[2];
        for (wi, bi) in w.iter_mut().zip(self.b) {
            *wi = wd * bi;
        }
        w[0] += p[1] - p[2];
        w[self.m] -= p[2];
        for (j, d) in self.dense.iter().enumerate() {
            for (wi, di) in w.iter_mut().zip(*d) {
                *wi += p[3 + j] * di;
            }
        }
    }
}

// ---------------------------------------------------------------- DOPRI5

pub(crate) static DOPRI5: Tableau = Tableau {
    name: "dopri5",
    order: 5,
    dense_order: 4,
    m: 6,
    c: &[0.0, 0.2, 0.3, 0.8, 8.0 / 9.0, 1.0, 1.0],
    a: &[
        &[0.2],
        &[3.0 / 40.0, 9.0 / 40.0],
        &[44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0],
        &[
            19372.0 / 6561.0,
            -25360.0 / 2187.0,
            64448.0 / 6561.0,
            -212.0 / 729.0,
        ],
        &[
            9017.0 / 3168.0,
            -355.0 / 33.0,
            46732.0 / 5247.0,
            49.0 / 176.0,
            -5103.0 / 18656.0,
        ],
    ],
    b: &[
        35.0 / 384.0,
        0.0,
        500.0 / 1113.0,
        125.0 / 192.0,
        -2187.0 / 6784.0,
        11.0 / 84.0,
    ],
    // e = b - b̂ (b̂ the 4th-order weights, which use the FSAL stage).
    err: ErrorEstimate::Rms(&[
        71.0 / 57600.0,
        0.0,
        -71.0 / 16695.0,
        71.0 / 1920.0,
        -17253.0 / 339200.0,
        22.0 / 525.0,
        -1.0 / 40.0,
    ]),
    dense: &[&[
        -12715105075.0 / 11282082432.0,
        0.0,
        87487479700.0 / 32700410799.0,
        -10690763975.0 / 1880347072.0,
        701980252875.0 / 199316789632.0,
        -1453857185.0 / 822651844.0,
        69997945.0 / 29380423.0,
    ]],
    control: Control {
        q: 5.0,
        beta: 0.04,
        beta_weight: 0.75,
        safety: 0.9,
        fac_min: 0.2,
        fac_max: 10.0,
    },
};

// ---------------------------------------------------------------- DOP853

const B853: [f64; 12] = [
    5.42937341165687622380535766363e-2,
    0.0,
    0.0,
    0.0,
    0.0,
    4.45031289275240888144113950566e0,
    1.89151789931450038304281599044e0,
    -5.8012039600105847814672114227e0,
    3.1116436695781989440891606237e-1,
    -1.52160949662516078556178806805e-1,
    2.01365400804030348374776537501e-1,
    4.47106157277725905176885569043e-2,
];

// Weights of the embedded 3rd-order solution (on stages 0, 8, 11).
const BHH1: f64 = 0.244094488188976377952755905512e+00;
const BHH2: f64 = 0.733846688281611857341361741547e+00;
const BHH3: f64 = 0.220588235294117647058823529412e-01;

const E3_853: [f64; 12] = [
    B853[0] - BHH1,
    0.0,
    0.0,
    0.0,
    0.0,
    B853[5],
    B853[6],
    B853[7],
    B853[8] - BHH2,
    B853[9],
    B853[10],
    B853[11] - BHH3,
];

pub(crate) static DOP853: Tableau = Tableau {
    name: "dop853",
    order: 8,
    dense_order: 7,
    m: 12,
    c: &[
        0.0,
        0.526001519587677318785587544488e-01,
        0.789002279381515978178381316732e-01,
        0.118350341907227396726757197510e+00,
        0.281649658092772603273242802490e+00,
        0.333333333333333333333333333333e+00,
        0.25e+00,
        0.307692307692307692307692307692e+00,
        0.651282051282051282051282051282e+00,
        0.6e+00,
        0.857142857142857142857142857142e+00,
        1.0,
        1.0, // FSAL
        0.1, // extra dense stages
        0.2,
        0.777777777777777777777777777778e+00,
    ],
    a: &[
        &[5.26001519587677318785587544488e-2],
        &[
            1.97250569845378994544595329183e-2,
            5.91751709536136983633785987549e-2,
        ],
        &[
            2.95875854768068491816892993775e-2,
            0.0,
            8.87627564304205475450678981324e-2,
        ],
        &[
            2.41365134159266685502369798665e-1,
            0.0,
            -8.84549479328286085344864962717e-1,
            9.24834003261792003115737966543e-1,
        ],
        &[
            3.7037037037037037037037037037e-2,
            0.0,
            0.0,
            1.70828608729473871279604482173e-1,
            1.25467687566822425016691814123e-1,
        ],
        &[
            3.7109375e-2,
            0.0,
            0.0,
            1.70252211019544039314978060272e-1,
            6.02165389804559606850219397283e-2,
            -1.7578125e-2,
        ],
        &[
            3.70920001185047927108779319836e-2,
            0.0,
            0.0,
            1.70383925712239993810214054705e-1,
            1.07262030446373284651809199168e-1,
            -1.53194377486244017527936158236e-2,
            8.27378916381402288758473766002e-3,
        ],
        &[
            6.24110958716075717114429577812e-1,
            0.0,
            0.0,
            -3.36089262944694129406857109825e0,
            -8.68219346841726006818189891453e-1,
            2.75920996994467083049415600797e1,
            2.01540675504778934086186788979e1,
            -4.34898841810699588477366255144e1,
        ],
        &[
            4.77662536438264365890433908527e-1,
            0.0,
            0.0,
            -2.48811461997166764192642586468e0,
            -5.90290826836842996371446475743e-1,
            2.12300514481811942347288949897e1,
            1.52792336328824235832596922938e1,
            -3.32882109689848629194453265587e1,
            -2.03312017085086261358222928593e-2,
        ],
        &[
            -9.3714243008598732571704021658e-1,
            0.0,
            0.0,
            5.18637242884406370830023853209e0,
            1.09143734899672957818500254654e0,
            -8.14978701074692612513997267357e0,
            -1.85200656599969598641566180701e1,
            2.27394870993505042818970056734e1,
            2.49360555267965238987089396762e0,
            -3.0467644718982195003823669022e0,
        ],
        &[
            2.27331014751653820792359768449e0,
            0.0,
            0.0,
            -1.05344954667372501984066689879e1,
            -2.00087205822486249909675718444e0,
            -1.79589318631187989172765950534e1,
            2.79488845294199600508499808837e1,
            -2.85899827713502369474065508674e0,
            -8.87285693353062954433549289258e0,
            1.23605671757943030647266201528e1,
            6.43392746015763530355970484046e-1,
        ],
        // extra stage 13 (c = 0.1)
        &[
            5.61675022830479523392909219681e-2,
            0.0,
            0.0,
            0.0,
            0.0,
            0.0,
            2.53500210216624811088794765333e-1,
            -2.46239037470802489917441475441e-1,
            -1.24191423263816360469010140626e-1,
            1.5329179827876569731206322685e-1,
            8.20105229563468988491666602057e-3,
            7.56789766054569976138603589584e-3,
            -8.298e-3,
        ],
        // extra stage 14 (c = 0.2)
        &[
            3.18346481635021405060768473261e-2,
            0.0,
            0.0,
            0.0,
            0.0,
            2.83009096723667755288322961402e-2,
            5.35419883074385676223797384372e-2,
            -5.49237485713909884646569340306e-2,
            0.0,
            0.0,
            -1.08347328697249322858509316994e-4,
            3.82571090835658412954920192323e-4,
            -3.40465008687404560802977114492e-4,
            1.41312443674632500278074618366e-1,
        ],
        // extra stage 15 (c = 7/9)
        &[
            -4.28896301583791923408573538692e-1,
            0.0,
            0.0,
            0.0,
            0.0,
            -4.69762141536116384314449447206e0,
            7.68342119606259904184240953878e0,
            4.06898981839711007970213554331e0,
            3.56727187455281109270669543021e-1,
            0.0,
            0.0,
            0.0,
            -1.39902416515901462129418009734e-3,
            2.9475147891527723389556272149e0,
            -9.15095847217987001081870187138e0,
        ],
    ],
    b: &B853,
    err: ErrorEstimate::Dop853 {
        e5: &[
            0.1312004499419488073250102996e-01,
            0.0,
            0.0,
            0.0,
            0.0,
            -0.1225156446376204440720569753e+01,
            -0.4957589496572501915214079952e+00,
            0.1664377182454986536961530415e+01,
            -0.3503288487499736816886487290e+00,
            0.3341791187130174790297318841e+00,
            0.8192320648511571246570742613e-01,
            -0.2235530786388629525884427845e-01,
        ],
        e3: &E3_853,
    },
    dense: &[
        &[
            -0.84289382761090128651353491142e+01,
            0.0,
            0.0,
            0.0,
            0.0,
            0.56671495351937776962531783590e+00,
            -0.30689499459498916912797304727e+01,
            0.23846676565120698287728149680e+01,
            0.21170345824450282767155149946e+01,
            -0.87139158377797299206789907490e+00,
            0.22404374302607882758541771650e+01,
            0.63157877876946881815570249290e+00,
            -0.88990336451333310820698117400e-01,
            0.18148505520854727256656404962e+02,
            -0.91946323924783554000451984436e+01,
            -0.44360363875948939664310572000e+01,
        ],
        &[
            0.10427508642579134603413151009e+02,
            0.0,
            0.0,
            0.0,
            0.0,
            0.24228349177525818288430175319e+03,
            0.16520045171727028198505394887e+03,
            -0.37454675472269020279518312152e+03,
            -0.22113666853125306036270938578e+02,
            0.77334326684722638389603898808e+01,
            -0.30674084731089398182061213626e+02,
            -0.93321305264302278729567221706e+01,
            0.15697238121770843886131091075e+02,
            -0.31139403219565177677282850411e+02,
            -0.93529243588444783865713862664e+01,
            0.35816841486394083752465898540e+02,
        ],
        &[
            0.19985053242002433820987653617e+02,
            0.0,
            0.0,
            0.0,
            0.0,
            -0.38703730874935176555105901742e+03,
            -0.18917813819516756882830838328e+03,
            0.52780815920542364900561016686e+03,
            -0.11573902539959630126141871134e+02,
            0.68812326946963000169666922661e+01,
            -0.10006050966910838403183860980e+01,
            0.77771377980534432092869265740e+00,
            -0.27782057523535084065932004339e+01,
            -0.60196695231264120758267380846e+02,
            0.84320405506677161018159903784e+02,
            0.11992291136182789328035130030e+02,
        ],
        &[
            -0.25693933462703749003312586129e+02,
            0.0,
            0.0,
            0.0,
            0.0,
            -0.15418974869023643374053993627e+03,
            -0.23152937917604549567536039109e+03,
            0.35763911791061412378285349910e+03,
            0.93405324183624310003907691704e+02,
            -0.37458323136451633156875139351e+02,
            0.10409964950896230045147246184e+03,
            0.29840293426660503123344363579e+02,
            -0.43533456590011143754432175058e+02,
            0.96324553959188282948394950600e+02,
            -0.39177261675615439165231486172e+02,
            -0.14972683625798562581422125276e+03,
        ],
    ],
    control: Control {
        q: 8.0,
        beta: 0.04,
        beta_weight: 0.2,
        safety: 0.9,
        fac_min: 1.0 / 3.0,
        fac_max: 6.0,
    },
};
