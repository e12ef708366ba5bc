/* The in-browser generator of the static book: the shipped denoiser and decoder, run in plain JavaScript.
 *
 * A port of fmd_utils (the UNet denoiser, samplers/straight.py and samplers/ddim.py, diffusion.py, the decoder), kept
 * equal to it by
 * tests/test_generator.py: the same starting noise gives the same pixels within 1e-3. The weights come from
 * fmd-model.js (written by `python -m fmd_utils.web`), which sets window.FMD_MODEL. No network, no kernel, no
 * WebAssembly: a classic script works from a folder on disk (file://), where fetch() and module scripts do not.
 *
 * Conventions, as in the package: the sampler works on standardised latents z̃ = (z − μ)/σ, the network predicts
 * v = √ᾱ ε − √(1−ᾱ) z̃₀, class 10 is the null class, and guidance w applies for lo ≤ t ≤ hi (w = 1 elsewhere).
 * Random numbers: torch's CPU generator (mt19937) and its randn, so seed k draws the same starting noise as
 * torch.Generator().manual_seed(k) in Python, and the same garments as LatentDiffusionPipeline.generate(…, seed=k).
 */
(function (root) {
  "use strict";

  // ------------------------------------------------------------------------------------------ loading the weights
  async function inflate(base64) {
    const binary = atob(base64);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  }

  /** The document written by fmd_utils.web → {tensors: name → Float32Array, ...the rest of the document}. */
  async function loadModel(doc) {
    if (!doc || doc.format !== 2) throw new Error("fmd-model.js is missing or of another format; rebuild the book");
    const raw = await inflate(doc.data);
    const tensors = {};
    for (const spec of doc.tensors) { // float32, or its top 3 bytes ("float24"); byte k of every value together
      const kept = spec.dtype === "float32" ? 4 : 3, n = spec.length, bytes = new Uint8Array(n * 4);
      for (let k = 0; k < kept; k++) {
        const from = spec.offset + k * n, to = 4 - kept + k; // little-endian: the kept bytes are the top ones
        for (let i = 0; i < n; i++) bytes[i * 4 + to] = raw[from + i];
      }
      tensors[spec.name] = new Float32Array(bytes.buffer);
    }
    await useWasm(tensors);
    const model = Object.assign({}, doc, { data: undefined, tensors: tensors, kernel: wasm ? "wasm-simd" : "javascript" });
    model.schedule = {};
    for (const name of ["alpha_bar", "sqrt_alpha_bar", "sqrt_one_minus_alpha_bar"]) model.schedule[name] = tensors["schedule." + name];
    model.normalizer = { mean: tensors["normalizer.mean"], std: tensors["normalizer.std"] };
    return model;
  }

  // ------------------------------------------------------------------------------------------ kernels
  // The matrix products run in WebAssembly (fmd-kernels.wat, 128-bit SIMD) when fmd-kernels.js is on the page and
  // the browser has WebAssembly SIMD: all weights then live in its memory, and x and y pass through two scratch
  // areas. Otherwise (or for a product that does not fit) the same sums run in JavaScript, about 2-3× slower.
  let wasm = null; // {linear, memory, x: Float32Array scratch, y: Float32Array scratch}
  const SCRATCH = 1 << 18; // numbers in each scratch area (1 MB)

  async function useWasm(tensors) {
    wasm = null;
    if (typeof root.FMD_KERNELS !== "string" || typeof WebAssembly === "undefined") return;
    const binary = atob(root.FMD_KERNELS), bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    if (!WebAssembly.validate(bytes)) return; // no SIMD in this browser: JavaScript it is
    const { instance } = await WebAssembly.instantiate(bytes);
    const memory = instance.exports.memory;
    let floats = 2 * SCRATCH;
    for (const name in tensors) floats += tensors[name].length + 4; // + 4: keep every tensor 16-byte aligned
    const pages = Math.ceil((floats * 4) / 65536) - memory.buffer.byteLength / 65536;
    if (pages > 0) memory.grow(pages);
    let offset = 2 * SCRATCH;
    for (const name in tensors) {
      const view = new Float32Array(memory.buffer, offset * 4, tensors[name].length);
      view.set(tensors[name]);
      tensors[name] = view;
      offset += Math.ceil(tensors[name].length / 4) * 4;
    }
    wasm = { linear: instance.exports.linear, memory: memory.buffer,
      x: new Float32Array(memory.buffer, 0, SCRATCH), y: new Float32Array(memory.buffer, SCRATCH * 4, SCRATCH) };
  }

  /** y[r, o] = b[o] + Σ_i x[r, i] W[o, i] for rows r < n (W: (dOut, dIn) row-major, as torch's Linear). */
  function linear(x, n, dIn, W, b, dOut, y) {
    if (wasm && W.buffer === wasm.memory && (!b || b.buffer === wasm.memory) && dIn % 4 === 0 &&
        n * dIn <= SCRATCH && n * dOut <= SCRATCH) {
      wasm.x.set(x.subarray(0, n * dIn));
      wasm.linear(0, n, dIn, W.byteOffset, b ? b.byteOffset : 0, dOut, SCRATCH * 4);
      y.set(wasm.y.subarray(0, n * dOut));
      return y;
    }
    return linearJS(x, n, dIn, W, b, dOut, y);
  }

  function linearJS(x, n, dIn, W, b, dOut, y) {
    let r = 0;
    for (; r + 4 <= n; r += 4) { // four rows at a time: each weight is loaded once for four products
      const x0 = r * dIn, x1 = x0 + dIn, x2 = x1 + dIn, x3 = x2 + dIn;
      for (let o = 0; o < dOut; o++) {
        const w0 = o * dIn;
        let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        for (let i = 0; i < dIn; i++) {
          const w = W[w0 + i];
          a0 += x[x0 + i] * w; a1 += x[x1 + i] * w; a2 += x[x2 + i] * w; a3 += x[x3 + i] * w;
        }
        const bias = b ? b[o] : 0;
        y[r * dOut + o] = a0 + bias; y[(r + 1) * dOut + o] = a1 + bias;
        y[(r + 2) * dOut + o] = a2 + bias; y[(r + 3) * dOut + o] = a3 + bias;
      }
    }
    for (; r < n; r++) {
      for (let o = 0; o < dOut; o++) {
        let a = b ? b[o] : 0;
        for (let i = 0; i < dIn; i++) a += x[r * dIn + i] * W[o * dIn + i];
        y[r * dOut + o] = a;
      }
    }
    return y;
  }

  const silu = (v) => v / (1 + Math.exp(-v)); // SiLU(v) = v σ(v)
  const sigmoid = (v) => 1 / (1 + Math.exp(-v));

  /** Row-wise LayerNorm over d features (ε = 1e-5), then the affine map if weight/bias are given; in place. */
  function layerNorm(x, n, d, weight, bias) {
    for (let r = 0; r < n; r++) {
      const o = r * d;
      let mean = 0, variance = 0;
      for (let i = 0; i < d; i++) mean += x[o + i];
      mean /= d;
      for (let i = 0; i < d; i++) variance += (x[o + i] - mean) ** 2;
      const inv = 1 / Math.sqrt(variance / d + 1e-5);
      for (let i = 0; i < d; i++) {
        const v = (x[o + i] - mean) * inv;
        x[o + i] = weight ? v * weight[i] + bias[i] : v;
      }
    }
    return x;
  }

  // ------------------------------------------------------------------------------------------ the denoiser
  /** e = MLP(PE(t)) + E[y]: the sinusoidal embedding PE(t) = [sin(t ω_i), cos(t ω_i)], ω_i = 10000^(−i/k). */
  function condition(m, t, label) {
    const T = m.tensors, d = m.denoiser.embed_dim, half = d / 2;
    const pe = new Float32Array(d);
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(t * Math.fround(Math.exp(-Math.log(10000) * i / half)));
      pe[i] = Math.sin(angle); pe[half + i] = Math.cos(angle);
    }
    const hidden = linear(pe, 1, d, T["denoiser.time_embedding.mlp.0.weight"], T["denoiser.time_embedding.mlp.0.bias"],
      d, new Float32Array(d)).map(silu);
    const e = linear(hidden, 1, d, T["denoiser.time_embedding.mlp.2.weight"], T["denoiser.time_embedding.mlp.2.bias"],
      d, new Float32Array(d));
    const table = T["denoiser.class_embedding.table.weight"];
    for (let i = 0; i < d; i++) e[i] += table[label * d + i];
    return e;
  }

  /** One ConditionedResidualBlock on n rows: h = W1 SiLU(LN(x)); h = LN(h)(1 + γ) + β; y = P x + W2 SiLU(h).
   *  `films[c]` holds [1 + γ, β] of condition c and `which[r]` the condition of row r. */
  function residualBlock(m, name, x, n, dIn, dOut, films, which) {
    const T = m.tensors, p = "denoiser." + name + ".";
    const a = layerNorm(Float32Array.from(x), n, dIn, T[p + "norm_in.weight"], T[p + "norm_in.bias"]).map(silu);
    const h = layerNorm(linear(a, n, dIn, T[p + "linear_in.weight"], T[p + "linear_in.bias"], dOut,
      new Float32Array(n * dOut)), n, dOut, null, null);
    for (let r = 0; r < n; r++) {
      const [scale, shift] = films[which[r]][name];
      for (let i = 0; i < dOut; i++) h[r * dOut + i] = silu(h[r * dOut + i] * scale[i] + shift[i]);
    }
    const y = linear(h, n, dOut, T[p + "linear_out.weight"], T[p + "linear_out.bias"], dOut, new Float32Array(n * dOut));
    if (T[p + "skip.weight"]) {
      const skip = linear(x, n, dIn, T[p + "skip.weight"], T[p + "skip.bias"], dOut, new Float32Array(n * dOut));
      for (let i = 0; i < y.length; i++) y[i] += skip[i];
    } else {
      for (let i = 0; i < y.length; i++) y[i] += x[i];
    }
    return y;
  }

  /** TokenSelfAttention: h' = h + reshape(softmax(QKᵀ/√d) V W_o), tokens LN(reshape(h, K × W/K) + P). */
  function attention(m, h, n, width) {
    const T = m.tensors, p = "denoiser.mid_attention.", K = m.denoiser.attention_tokens, d = width / K;
    const tokens = new Float32Array(n * width), position = T[p + "position"];
    for (let r = 0; r < n; r++) for (let i = 0; i < width; i++) tokens[r * width + i] = h[r * width + i] + position[i];
    layerNorm(tokens, n * K, d, T[p + "norm.weight"], T[p + "norm.bias"]);
    const qkv = linear(tokens, n * K, d, T[p + "qkv.weight"], T[p + "qkv.bias"], 3 * d, new Float32Array(n * K * 3 * d));
    const mixed = new Float32Array(n * width), weights = new Float64Array(K), scale = 1 / Math.sqrt(d);
    for (let r = 0; r < n; r++) {
      const base = r * K * 3 * d;
      for (let i = 0; i < K; i++) {
        let max = -Infinity, sum = 0;
        for (let j = 0; j < K; j++) {
          let s = 0;
          for (let c = 0; c < d; c++) s += qkv[base + i * 3 * d + c] * qkv[base + j * 3 * d + d + c];
          weights[j] = s * scale;
          max = Math.max(max, weights[j]);
        }
        for (let j = 0; j < K; j++) { weights[j] = Math.exp(weights[j] - max); sum += weights[j]; }
        for (let c = 0; c < d; c++) {
          let v = 0;
          for (let j = 0; j < K; j++) v += weights[j] * qkv[base + j * 3 * d + 2 * d + c];
          mixed[r * width + i * d + c] = v / sum;
        }
      }
    }
    const out = linear(mixed, n * K, d, T[p + "out.weight"], T[p + "out.bias"], d, new Float32Array(n * width));
    for (let i = 0; i < out.length; i++) out[i] += h[i];
    return out;
  }

  const BLOCKS = [ // name, input width, output width (from DenoiserConfig.widths = (outer, inner))
    ["down.0", "o", "o"], ["down.1", "o", "i"], ["mid_in", "i", "i"], ["mid_out", "i", "i"],
    ["up.0", "2i", "o"], ["up.1", "2o", "o"]];

  /** ε_θ-network output (v̂) for n standardised latents at one timestep t, with labels[r] ∈ 0..10 (10 = null). */
  function denoise(m, z, n, t, labels) {
    const T = m.tensors, [outer, inner] = m.denoiser.widths, D = m.denoiser.latent_dim;
    const width = { o: outer, i: inner, "2i": 2 * inner, "2o": 2 * outer };
    const distinct = Array.from(new Set(labels)), which = labels.map((y) => distinct.indexOf(y));
    const films = distinct.map((y) => { // per condition and block: [1 + γ(e), β(e)], computed once per step
      const e = condition(m, t, y), film = {};
      for (const [name, , out] of BLOCKS) {
        const w = width[out], g = linear(e, 1, e.length, T["denoiser." + name + ".scale_shift.weight"],
          T["denoiser." + name + ".scale_shift.bias"], 2 * w, new Float32Array(2 * w));
        film[name] = [g.subarray(0, w).map((v) => 1 + v), g.subarray(w)];
      }
      return film;
    });
    const block = (name, x) => {
      const spec = BLOCKS.find((b) => b[0] === name);
      return residualBlock(m, name, x, n, width[spec[1]], width[spec[2]], films, which);
    };
    const concat = (a, da, b, db) => {
      const c = new Float32Array(n * (da + db));
      for (let r = 0; r < n; r++) { c.set(a.subarray(r * da, (r + 1) * da), r * (da + db)); c.set(b.subarray(r * db, (r + 1) * db), r * (da + db) + da); }
      return c;
    };
    let h = linear(z, n, D, T["denoiser.input.weight"], T["denoiser.input.bias"], outer, new Float32Array(n * outer));
    const skip0 = h = block("down.0", h);
    const skip1 = h = block("down.1", h);
    h = block("mid_out", attention(m, block("mid_in", h), n, inner));
    h = block("up.0", concat(h, inner, skip1, inner));
    h = block("up.1", concat(h, outer, skip0, outer));
    layerNorm(h, n, outer, T["denoiser.output.0.weight"], T["denoiser.output.0.bias"]);
    for (let i = 0; i < h.length; i++) h[i] = silu(h[i]);
    return linear(h, n, outer, T["denoiser.output.2.weight"], T["denoiser.output.2.bias"], D, new Float32Array(n * D));
  }

  // ------------------------------------------------------------------------------------------ the sampler
  /** Guided (ε̂, ẑ₀) as LatentDiffusion.predict: f̃ = f(∅) + w (f(y) − f(∅)); ε̂ = √(1−ᾱ) z + √ᾱ v̂, ẑ₀ = √ᾱ z − √(1−ᾱ) v̂. */
  function predict(m, z, n, t, labels, w) {
    const D = m.denoiser.latent_dim, nul = m.denoiser.num_classes;
    let out;
    if (w === 1) out = denoise(m, z, n, t, labels);
    else if (w === 0) out = denoise(m, z, n, t, labels.map(() => nul));
    else {
      const both = new Float32Array(2 * n * D);
      both.set(z); both.set(z, n * D);
      const f = denoise(m, both, 2 * n, t, labels.concat(labels.map(() => nul)));
      out = new Float32Array(n * D);
      for (let i = 0; i < n * D; i++) out[i] = f[n * D + i] + w * (f[i] - f[n * D + i]);
    }
    const a = m.schedule.sqrt_alpha_bar[t], b = m.schedule.sqrt_one_minus_alpha_bar[t];
    const eps = new Float32Array(n * D), z0 = new Float32Array(n * D);
    for (let i = 0; i < n * D; i++) { eps[i] = b * z[i] + a * out[i]; z0[i] = a * z[i] - b * out[i]; }
    return [eps, z0];
  }

  /** Raw latents z = z̃ σ + μ from standardised noise, with the sampler of options.sampler (default: the stored one)
   *  on its grid from fmd_utils (m.samplers[name].grids[steps]). onStep(i, t, z0Raw) is called after every step. */
  function sample(m, labels, noise, options) {
    const o = Object.assign({}, m.sampling, options || {});
    const spec = m.samplers[o.sampler];
    if (!spec) throw new Error("sampler must be one of " + Object.keys(m.samplers).join(", ") + "; got " + o.sampler);
    const grid = spec.grids[String(o.steps)];
    if (!grid) throw new Error(spec.title + " steps must be one of " + Object.keys(spec.grids).join(", ") + "; got " + o.steps);
    const n = labels.length, D = m.denoiser.latent_dim;
    if (noise.length !== n * D) throw new Error("noise must hold " + n * D + " numbers, got " + noise.length);
    const [lo, hi] = o.guidance_interval || [-Infinity, Infinity];
    const guidanceAt = (t) => (lo <= t && t <= hi ? o.guidance : 1); // w_t = w inside [lo, hi], 1 outside
    const z = Float32Array.from(noise);
    return denormalize(m, RUNS[o.sampler](m, labels, z, grid, guidanceAt, o.onStep));
  }

  /** DDIM (η = 0), samplers/ddim.py: z' = √ᾱ' ẑ₀ + √(1−ᾱ') ε̂ on its timesteps (ᾱ after the last step: 1). */
  function ddim(m, labels, z, taus, guidanceAt, onStep) {
    const n = labels.length, alphaBar = m.schedule.alpha_bar;
    for (let i = 0; i < taus.length; i++) {
      const t = taus[i];
      const [eps, z0] = predict(m, z, n, t, labels, guidanceAt(t));
      const aNext = i + 1 === taus.length ? 1 : alphaBar[taus[i + 1]];
      const c0 = Math.fround(Math.sqrt(aNext)), c1 = Math.fround(Math.sqrt(Math.max(0, Math.fround(1 - aNext))));
      for (let j = 0; j < z.length; j++) z[j] = c0 * z0[j] + c1 * eps[j];
      if (onStep) onStep(i, t, denormalize(m, z0));
    }
    return z;
  }

  /** Heun on the straight path, samplers/straight.py: u = z/(a + s) at τ = s/(a + s) (a = √ᾱ, s = √(1−ᾱ)),
   *  u' = u + (τ' − τ)(v̂ + v̂')/2 with v̂ = ε̂ − ẑ₀, z' = (a' + s') u'; grid point −1 is the clean end (a = 1, s = 0),
   *  whose velocity is asked at t = 0. Float64 arithmetic between the network's float32 outputs, as the package. */
  function straightHeun(m, labels, z, grid, guidanceAt, onStep) {
    const n = labels.length, alphaBar = m.schedule.alpha_bar;
    const scales = (t) => { if (t === -1) return [1, 0]; const a = Math.sqrt(alphaBar[t]); return [a, Math.sqrt(1 - a * a)]; };
    const velocity = (zAt, t) => {
      const tNet = Math.max(t, 0), [eps, z0] = predict(m, zAt, n, tNet, labels, guidanceAt(tNet));
      const v = new Float32Array(eps.length);
      for (let j = 0; j < v.length; j++) v[j] = eps[j] - z0[j]; // v̂ = ε̂ − ẑ₀ (rounded to float32, as torch)
      return [v, z0];
    };
    const step = (zFrom, v, vNext, [a, s], [aNext, sNext], out) => {
      const tau = s / (a + s), tauNext = sNext / (aNext + sNext), dTau = tauNext - tau, grow = aNext + sNext;
      for (let j = 0; j < out.length; j++) {
        const slope = vNext ? 0.5 * (v[j] + vNext[j]) : v[j];
        out[j] = grow * (zFrom[j] / (a + s) + dTau * slope);
      }
      return out;
    };
    const euler = new Float32Array(z.length);
    for (let i = 0; i + 1 < grid.length; i++) {
      const t = grid[i], here = scales(t), there = scales(grid[i + 1]);
      const [v, z0] = velocity(z, t);
      const [vNext] = velocity(step(z, v, null, here, there, euler), grid[i + 1]);
      step(z, v, vNext, here, there, z);
      if (onStep) onStep(i, t, denormalize(m, z0));
    }
    return z;
  }

  const RUNS = { ddim: ddim, "heun-straight": straightHeun }; // the samplers of fmd_utils.views.export.PAGE_SAMPLERS

  function denormalize(m, z) {
    const { mean, std } = m.normalizer, D = mean.length, out = new Float32Array(z.length);
    for (let i = 0; i < z.length; i++) out[i] = z[i] * std[i % D] + mean[i % D]; // z = z̃ σ + μ
    return out;
  }

  // ------------------------------------------------------------------------------------------ the decoder
  /** 3×3 patches (padding 1) of a channels-last H×W×C map: row = pixel, columns = (ky, kx, c). */
  function im2col(x, H, W, C, cols) {
    cols.fill(0);
    for (let y = 0; y < H; y++) for (let xx = 0; xx < W; xx++) {
      const row = (y * W + xx) * 9 * C;
      for (let ky = 0; ky < 3; ky++) {
        const sy = y + ky - 1;
        if (sy < 0 || sy >= H) continue;
        for (let kx = 0; kx < 3; kx++) {
          const sx = xx + kx - 1;
          if (sx < 0 || sx >= W) continue;
          const from = (sy * W + sx) * C, to = row + (ky * 3 + kx) * C;
          for (let c = 0; c < C; c++) cols[to + c] = x[from + c];
        }
      }
    }
    return cols;
  }

  function affine(x, C, scale, shift, activate) { // BatchNorm in evaluation mode (scale, shift), then SiLU
    for (let i = 0; i < x.length; i++) {
      const v = x[i] * scale[i % C] + shift[i % C];
      x[i] = activate ? silu(v) : v;
    }
    return x;
  }

  /** Decoder: 64 numbers → 7×7×C7 → residual + channel-attention block(s) → ×2 transposed conv → 3×3 convs →
   *  pixel shuffle → sigmoid. Images (n × 784 values in [0, 1], row-major 28×28). */
  function decode(m, latents, n) {
    const T = m.tensors, [c14, c7] = m.autoencoder.channels, D = m.autoencoder.latent_dim, p = "decoder.";
    const images = new Float32Array(n * 784);
    const cols7 = new Float32Array(49 * 9 * c7), cols14 = new Float32Array(196 * 9 * c14);
    for (let k = 0; k < n; k++) {
      let h = linear(latents.subarray(k * D, (k + 1) * D), 1, D, T[p + "from_latent.weight"], T[p + "from_latent.bias"],
        49 * c7, new Float32Array(49 * c7));
      for (let b = 0; b < m.autoencoder.blocks; b++) { // y = x + CAL(F(x))
        const q = p + "block" + b + ".";
        const r1 = linear(im2col(affine(Float32Array.from(h), c7, T[q + "bn1.scale"], T[q + "bn1.shift"], true), 7, 7,
          c7, cols7), 49, 9 * c7, T[q + "conv1.weight"], null, c7, new Float32Array(49 * c7));
        const r2 = linear(im2col(affine(r1, c7, T[q + "bn2.scale"], T[q + "bn2.shift"], true), 7, 7, c7, cols7), 49,
          9 * c7, T[q + "conv2.weight"], T[q + "conv2.bias"], c7, new Float32Array(49 * c7));
        const squeeze = new Float32Array(c7); // z_c = mean over the 7×7 pixels; s = σ(W2 SiLU(W1 z))
        for (let i = 0; i < r2.length; i++) squeeze[i % c7] += r2[i] / 49;
        const hidden = linear(squeeze, 1, c7, T[q + "excite1.weight"], T[q + "excite1.bias"],
          T[q + "excite1.bias"].length, new Float32Array(T[q + "excite1.bias"].length)).map(silu);
        const gates = linear(hidden, 1, hidden.length, T[q + "excite2.weight"], T[q + "excite2.bias"], c7,
          new Float32Array(c7)).map(sigmoid);
        for (let i = 0; i < h.length; i++) h[i] += r2[i] * gates[i % c7];
      }
      affine(h, c7, T[p + "norm.scale"], T[p + "norm.shift"], true);
      // transposed convolution, kernel 4, stride 2, padding 1: input pixel (iy, ix) adds its row of
      // contributions (ky, kx, o) to output pixel (2 iy − 1 + ky, 2 ix − 1 + kx)
      const parts = linear(h, 49, c7, T[p + "up.weight"], null, 16 * c14, new Float32Array(49 * 16 * c14));
      const up = new Float32Array(196 * c14), upBias = T[p + "up.bias"];
      for (let i = 0; i < up.length; i++) up[i] = upBias[i % c14];
      for (let iy = 0; iy < 7; iy++) for (let ix = 0; ix < 7; ix++) for (let ky = 0; ky < 4; ky++) {
        const oy = 2 * iy - 1 + ky;
        if (oy < 0 || oy >= 14) continue;
        for (let kx = 0; kx < 4; kx++) {
          const ox = 2 * ix - 1 + kx;
          if (ox < 0 || ox >= 14) continue;
          const from = (iy * 7 + ix) * 16 * c14 + (ky * 4 + kx) * c14, to = (oy * 14 + ox) * c14;
          for (let o = 0; o < c14; o++) up[to + o] += parts[from + o];
        }
      }
      affine(up, c14, T[p + "up.bn.scale"], T[p + "up.bn.shift"], true);
      const a = linear(im2col(up, 14, 14, c14, cols14), 196, 9 * c14, T[p + "conv_a.weight"], T[p + "conv_a.bias"], c14,
        new Float32Array(196 * c14)).map(silu);
      const out = linear(im2col(a, 14, 14, c14, cols14), 196, 9 * c14, T[p + "conv_b.weight"], T[p + "conv_b.bias"], 4,
        new Float32Array(196 * 4));
      for (let y = 0; y < 14; y++) for (let x = 0; x < 14; x++) for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) {
        // PixelShuffle(2): channel 2i + j of pixel (y, x) is image pixel (2y + i, 2x + j)
        images[k * 784 + (2 * y + i) * 28 + 2 * x + j] = sigmoid(out[(y * 14 + x) * 4 + 2 * i + j]);
      }
    }
    return images;
  }

  // ------------------------------------------------------------------------------------------ torch's randn
  /** torch.Generator().manual_seed(seed): the 32-bit Mersenne Twister, seeded as std::mt19937. */
  function mersenneTwister(seed) {
    const mt = new Uint32Array(624);
    mt[0] = seed >>> 0;
    for (let i = 1; i < 624; i++) {
      const prev = mt[i - 1] ^ (mt[i - 1] >>> 30);
      mt[i] = (Math.imul(1812433253, prev) + i) >>> 0;
    }
    let index = 624;
    return function next() {
      if (index >= 624) {
        for (let i = 0; i < 624; i++) {
          const y = (mt[i] & 0x80000000) | (mt[(i + 1) % 624] & 0x7fffffff);
          mt[i] = mt[(i + 397) % 624] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
        }
        index = 0;
      }
      let y = mt[index++];
      y ^= y >>> 11; y ^= (y << 7) & 0x9d2c5680; y ^= (y << 15) & 0xefc60000; y ^= y >>> 18;
      return y >>> 0;
    };
  }

  /** torch.randn(count, generator=torch.Generator().manual_seed(seed)) for float32 (count ≥ 16): uniforms from
   *  24 random bits, then Box–Muller on blocks of 16 (value j and j + 8 from one pair). */
  function randn(seed, count) {
    if (count < 16) throw new Error("randn: count must be at least 16");
    const next = mersenneTwister(seed), u = new Float32Array(count), out = new Float32Array(count);
    for (let i = 0; i < count; i++) u[i] = (next() & 0xffffff) / 16777216;
    const fill16 = (start) => {
      for (let j = 0; j < 8; j++) {
        const radius = Math.fround(Math.sqrt(Math.fround(-2 * Math.fround(Math.log(Math.fround(1 - u[start + j]))))));
        const theta = Math.fround(2 * Math.PI * u[start + j + 8]);
        out[start + j] = radius * Math.fround(Math.cos(theta));
        out[start + j + 8] = radius * Math.fround(Math.sin(theta));
      }
    };
    for (let i = 0; i + 16 <= count; i += 16) fill16(i);
    if (count % 16) { // torch draws 16 fresh uniforms for the last block
      for (let i = count - 16; i < count; i++) u[i] = (next() & 0xffffff) / 16777216;
      fill16(count - 16);
    }
    return out;
  }

  /** n images (n × 784 floats in [0, 1]) of the given labels (indices); options: seed or noise, sampler, steps, guidance,
   *  guidance_interval (null: every step), onStep. The same seed draws the same images as pipe.generate. */
  function generate(m, labels, options) {
    const o = options || {};
    const noise = o.noise || randn(o.seed || 0, labels.length * m.denoiser.latent_dim);
    const latents = sample(m, labels, noise, o);
    const images = decode(m, latents, labels.length);
    for (let i = 0; i < images.length; i++) {
      if (!Number.isFinite(images[i])) throw new Error("generation produced non-finite pixels; rebuild fmd-model.js");
    }
    return images;
  }

  // ------------------------------------------------------------------------------------------ the panel
  const SCALE = 3, GAP = 2, GRID = 4; // 16 samples as a 4 × 4 grid of 28 × 28 images shown 3× larger

  function draw(canvas, images, n) {
    const side = 28 * SCALE, context = canvas.getContext("2d");
    const picture = context.createImageData(canvas.width, canvas.height);
    picture.data.fill(255);
    for (let k = 0; k < n; k++) {
      const left = (k % GRID) * (side + GAP), top = Math.floor(k / GRID) * (side + GAP);
      for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) {
        const value = Math.round(Math.min(1, Math.max(0, images[k * 784 + Math.floor(y / SCALE) * 28 + Math.floor(x / SCALE)])) * 255);
        const at = ((top + y) * canvas.width + left + x) * 4;
        picture.data[at] = picture.data[at + 1] = picture.data[at + 2] = value;
      }
    }
    context.putImageData(picture, 0, 0);
  }

  const element = (tag, attributes, children) => {
    const node = document.createElement(tag);
    for (const key in attributes || {}) node.setAttribute(key, attributes[key]);
    for (const child of children || []) node.append(child);
    return node;
  };

  /** Fill a <div class="fmd-generator"> with the controls, a Generate button and the canvas. */
  function mount(host, m) {
    const names = m.classes, first = names.indexOf(host.dataset.class || "Sandal");
    const [lo, hi] = m.sampling.guidance_interval || [0, m.num_steps - 1];
    const classPick = element("select", { "aria-label": "class" }, names.map((name, i) => element("option", { value: i }, [name])));
    classPick.value = String(Math.max(0, first));
    const guidance = element("input", { type: "range", min: 0, max: 8, step: 0.5, value: m.sampling.guidance, "aria-label": "guidance weight" });
    const guidanceShown = element("output", {}, [String(m.sampling.guidance)]);
    const interval = element("input", { type: "checkbox", "aria-label": "guidance interval" });
    interval.checked = Boolean(m.sampling.guidance_interval);
    const sampler = element("select", { "aria-label": "sampler" },
      Object.keys(m.samplers).map((name) => element("option", { value: name }, [m.samplers[name].title])));
    sampler.value = m.sampling.sampler;
    const steps = element("select", { "aria-label": "steps" });
    const offerSteps = () => { // the chosen sampler's step counts, shown with what they cost
      const spec = m.samplers[sampler.value];
      steps.replaceChildren(...Object.keys(spec.grids).map((k) => element("option", { value: k },
        [spec.evaluations_per_step === 1 ? k : k + " (" + k * spec.evaluations_per_step + " evaluations)"])));
      steps.value = String(spec.first_steps);
    };
    offerSteps();
    sampler.addEventListener("change", offerSteps);
    const seed = element("input", { type: "number", min: 0, max: 4294967295, step: 1, value: 0, "aria-label": "seed", style: "width: 5em" });
    const watch = element("input", { type: "checkbox", "aria-label": "show the estimate of z0 at every step" });
    const button = element("button", { type: "button", class: "fmd-generate" }, ["Generate"]);
    const side = 28 * SCALE;
    const canvas = element("canvas", { width: GRID * side + (GRID - 1) * GAP, height: GRID * side + (GRID - 1) * GAP,
      "aria-label": "16 generated images", style: "display: block; margin: 0.5em 0; image-rendering: pixelated" });
    const status = element("div", { class: "fmd-status", style: "font-size: 0.9em" });
    const python = element("code", { class: "fmd-python", style: "font-size: 0.8em" });
    const label = (text, control) => element("label", { style: "margin-right: 1em; white-space: nowrap" }, [text + " ", control]);
    host.replaceChildren(
      element("div", {}, [label("class", classPick), element("label", { style: "margin-right: 1em; white-space: nowrap" },
        ["guidance w ", guidance, " ", guidanceShown]), label("seed", seed)]),
      element("div", {}, [label("sampler", sampler), label("steps", steps)]),
      element("div", {}, [label("guide only for t in [" + lo + ", " + hi + "]", interval), label("show ẑ₀ as it runs", watch), button]),
      canvas, status, python);
    host.style.cssText += "border: 1px solid #d0d7de; border-radius: 6px; padding: 0.6em 0.8em; margin: 1em 0; max-width: 44em";
    guidance.addEventListener("input", () => { guidanceShown.textContent = guidance.value; });

    const settings = () => ({
      label: Number(classPick.value), sampler: sampler.value, steps: Number(steps.value), guidance: Number(guidance.value),
      guidance_interval: interval.checked ? [lo, hi] : null, seed: Math.min(4294967295, Math.max(0, Math.floor(Number(seed.value) || 0))),
    });
    async function run() {
      const s = settings(), labels = new Array(GRID * GRID).fill(s.label);
      button.disabled = true;
      const frames = []; // with "show ẑ₀": the decoded estimate after every step, played back before the result
      const options = watch.checked ? Object.assign({}, s, { onStep: (i, t, z0) => frames.push([t, decode(m, z0, labels.length)]) }) : s;
      const begin = performance.now();
      const images = generate(m, labels, options);
      const ms = performance.now() - begin;
      for (const [t, estimate] of frames) {
        draw(canvas, estimate, labels.length);
        status.textContent = "ẑ₀, the estimate of the clean latent at t = " + t + ", decoded";
        await new Promise((resolve) => setTimeout(resolve, 60));
      }
      draw(canvas, images, labels.length);
      const guided = s.guidance_interval ? " on t ∈ [" + lo + ", " + hi + "]" : " on every step";
      const spec = m.samplers[s.sampler], evaluations = s.steps * spec.evaluations_per_step;
      status.textContent = labels.length + " × " + names[s.label] + ", " + spec.title + "-" + s.steps +
        (evaluations === s.steps ? "" : " (" + evaluations + " network evaluations)") + ", w = " + s.guidance + guided +
        ", seed " + s.seed + ": " + Math.round(ms) + " ms in this page (" + (m.kernel === "wasm-simd" ? "WebAssembly SIMD" : "JavaScript") +
        (frames.length ? ", with ẑ₀ decoded at every step" : "") + ")";
      python.textContent = "In Python, the same images: pipe.generate([\"" + names[s.label] + "\"] * 16, seed=" + s.seed +
        ", sampler=\"" + s.sampler + "\", steps=" + s.steps + ", guidance=" + s.guidance.toFixed(1) + ", guidance_interval=" +
        (s.guidance_interval ? "(" + lo + ", " + hi + ")" : "None") + ")";
      host.dataset.generated = String(Number(host.dataset.generated || 0) + 1); // for tests: a run has finished
      button.disabled = false;
    }
    const click = () => run().catch((error) => { status.textContent = "Error: " + error.message; button.disabled = false; throw error; });
    button.addEventListener("click", click);
    setTimeout(click, 0); // a first grid at once (about 0.1 s), so the reader sees what the panel does
    return { run, settings };
  }

  // ------------------------------------------------------------------------------------------ start-up
  const here = typeof document !== "undefined" && document.currentScript ? document.currentScript.src : "";

  function loadScript(name) { // fmd-model.js and fmd-kernels.js sit next to this file
    return new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = here.replace(/[^/]*$/, name);
      script.onload = resolve;
      script.onerror = () => reject(new Error(name + " did not load: rebuild the book with `make book`"));
      document.head.append(script);
    });
  }

  let ready = null; // the model, loaded once per page
  function start() {
    const hosts = document.querySelectorAll(".fmd-generator");
    if (!hosts.length) return;
    for (const host of hosts) host.textContent = "Loading the model (about 3 MB)…";
    ready = (async () => {
      if (!root.FMD_KERNELS) await loadScript("fmd-kernels.js").catch(() => null); // optional: JavaScript otherwise
      if (!root.FMD_MODEL) await loadScript("fmd-model.js");
      const m = await loadModel(root.FMD_MODEL);
      root.FMD.model = m;
      for (const host of hosts) mount(host, m);
      return m;
    })();
    ready.catch((error) => { for (const host of hosts) host.textContent = "The generator could not start: " + error.message; });
    root.FMD.ready = ready;
  }

  root.FMD = { loadModel, linear, denoise, predict, sample, decode, randn, generate, mount, ready: null };
  if (typeof document !== "undefined") {
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
    else start();
  }
})(typeof window !== "undefined" ? window : globalThis);
