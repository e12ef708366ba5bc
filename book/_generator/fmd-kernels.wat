;; The one kernel the in-browser generator spends its time in, in WebAssembly with 128-bit SIMD:
;;     y[r, o] = b[o] + Σ_i x[r, i] W[o, i]        (torch's Linear: W is (d_out, d_in), row-major)
;; x, W, b, y are byte addresses in this module's memory (b = 0: no bias); d_in must be a multiple of 4.
;; Four rows of x and two rows of W at a time, four lanes of i per instruction: each loaded vector is used in
;; two or four products. Assembled by book/vendor.sh (wabt's wat2wasm) into the book's fmd-kernels.js.
(module
  (memory (export "memory") 1)

  (func $sum (param $v v128) (result f32)  ;; the four lanes added: (v0 + v1) + (v2 + v3)
    (f32.add (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
             (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))

  (func $bias (param $b i32) (param $o i32) (result f32)  ;; b[o], or 0 without a bias
    (if (result f32) (local.get $b)
      (then (f32.load (i32.add (local.get $b) (i32.shl (local.get $o) (i32.const 2)))))
      (else (f32.const 0))))

  (func $dot (param $x i32) (param $w i32) (param $bytes i32) (result f32)  ;; Σ_i x[i] w[i] over $bytes / 4 numbers
    (local $acc v128) (local $end i32)
    (local.set $end (i32.add (local.get $x) (local.get $bytes)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
        (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (v128.load (local.get $x)) (v128.load (local.get $w)))))
        (local.set $x (i32.add (local.get $x) (i32.const 16)))
        (local.set $w (i32.add (local.get $w) (i32.const 16)))
        (br $next)))
    (call $sum (local.get $acc)))

  (func $store (param $y i32) (param $dout i32) (param $row i32) (param $o i32) (param $value f32)  ;; y[row, o] = value
    (f32.store (i32.add (local.get $y) (i32.shl (i32.add (i32.mul (local.get $row) (local.get $dout)) (local.get $o))
                                               (i32.const 2)))
               (local.get $value)))

  (func (export "linear") (param $x i32) (param $n i32) (param $din i32) (param $w i32) (param $b i32)
                          (param $dout i32) (param $y i32)
    (local $stride i32) (local $r i32) (local $o i32) (local $k i32) (local $j i32)
    (local $x0 i32) (local $x1 i32) (local $x2 i32) (local $x3 i32) (local $w0 i32) (local $w1 i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $c0 v128) (local $c1 v128) (local $c2 v128) (local $c3 v128)
    (local $u v128) (local $v v128) (local $t v128) (local $b0 f32) (local $b1 f32)
    (local.set $stride (i32.shl (local.get $din) (i32.const 2)))  ;; bytes in a row of x and in a row of W
    (block $rows_done
      (loop $rows  ;; four rows of x at a time
        (br_if $rows_done (i32.gt_s (i32.add (local.get $r) (i32.const 4)) (local.get $n)))
        (local.set $x0 (i32.add (local.get $x) (i32.mul (local.get $r) (local.get $stride))))
        (local.set $x1 (i32.add (local.get $x0) (local.get $stride)))
        (local.set $x2 (i32.add (local.get $x1) (local.get $stride)))
        (local.set $x3 (i32.add (local.get $x2) (local.get $stride)))
        (local.set $o (i32.const 0))
        (block $outs_done
          (loop $outs  ;; two outputs at a time
            (br_if $outs_done (i32.gt_s (i32.add (local.get $o) (i32.const 2)) (local.get $dout)))
            (local.set $w0 (i32.add (local.get $w) (i32.mul (local.get $o) (local.get $stride))))
            (local.set $w1 (i32.add (local.get $w0) (local.get $stride)))
            (local.set $a0 (v128.const f32x4 0 0 0 0)) (local.set $a1 (v128.const f32x4 0 0 0 0))
            (local.set $a2 (v128.const f32x4 0 0 0 0)) (local.set $a3 (v128.const f32x4 0 0 0 0))
            (local.set $c0 (v128.const f32x4 0 0 0 0)) (local.set $c1 (v128.const f32x4 0 0 0 0))
            (local.set $c2 (v128.const f32x4 0 0 0 0)) (local.set $c3 (v128.const f32x4 0 0 0 0))
            (local.set $k (i32.const 0))
            (block $k_done
              (loop $ks
                (br_if $k_done (i32.ge_u (local.get $k) (local.get $stride)))
                (local.set $u (v128.load (i32.add (local.get $w0) (local.get $k))))  ;; W[o, i:i+4]
                (local.set $v (v128.load (i32.add (local.get $w1) (local.get $k))))  ;; W[o+1, i:i+4]
                (local.set $t (v128.load (i32.add (local.get $x0) (local.get $k))))
                (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (local.get $t) (local.get $u))))
                (local.set $c0 (f32x4.add (local.get $c0) (f32x4.mul (local.get $t) (local.get $v))))
                (local.set $t (v128.load (i32.add (local.get $x1) (local.get $k))))
                (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (local.get $t) (local.get $u))))
                (local.set $c1 (f32x4.add (local.get $c1) (f32x4.mul (local.get $t) (local.get $v))))
                (local.set $t (v128.load (i32.add (local.get $x2) (local.get $k))))
                (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (local.get $t) (local.get $u))))
                (local.set $c2 (f32x4.add (local.get $c2) (f32x4.mul (local.get $t) (local.get $v))))
                (local.set $t (v128.load (i32.add (local.get $x3) (local.get $k))))
                (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (local.get $t) (local.get $u))))
                (local.set $c3 (f32x4.add (local.get $c3) (f32x4.mul (local.get $t) (local.get $v))))
                (local.set $k (i32.add (local.get $k) (i32.const 16)))
                (br $ks)))
            (local.set $b0 (call $bias (local.get $b) (local.get $o)))
            (local.set $b1 (call $bias (local.get $b) (i32.add (local.get $o) (i32.const 1))))
            (call $store (local.get $y) (local.get $dout) (local.get $r) (local.get $o)
                         (f32.add (call $sum (local.get $a0)) (local.get $b0)))
            (call $store (local.get $y) (local.get $dout) (i32.add (local.get $r) (i32.const 1)) (local.get $o)
                         (f32.add (call $sum (local.get $a1)) (local.get $b0)))
            (call $store (local.get $y) (local.get $dout) (i32.add (local.get $r) (i32.const 2)) (local.get $o)
                         (f32.add (call $sum (local.get $a2)) (local.get $b0)))
            (call $store (local.get $y) (local.get $dout) (i32.add (local.get $r) (i32.const 3)) (local.get $o)
                         (f32.add (call $sum (local.get $a3)) (local.get $b0)))
            (local.set $o (i32.add (local.get $o) (i32.const 1)))
            (call $store (local.get $y) (local.get $dout) (local.get $r) (local.get $o)
                         (f32.add (call $sum (local.get $c0)) (local.get $b1)))
            (call $store (local.get $y) (local.get $dout) (i32.add (local.get $r) (i32.const 1)) (local.get $o)
                         (f32.add (call $sum (local.get $c1)) (local.get $b1)))
            (call $store (local.get $y) (local.get $dout) (i32.add (local.get $r) (i32.const 2)) (local.get $o)
                         (f32.add (call $sum (local.get $c2)) (local.get $b1)))
            (call $store (local.get $y) (local.get $dout) (i32.add (local.get $r) (i32.const 3)) (local.get $o)
                         (f32.add (call $sum (local.get $c3)) (local.get $b1)))
            (local.set $o (i32.add (local.get $o) (i32.const 1)))
            (br $outs)))
        (if (i32.lt_s (local.get $o) (local.get $dout))  ;; an odd last output: one dot product per row
          (then
            (local.set $w0 (i32.add (local.get $w) (i32.mul (local.get $o) (local.get $stride))))
            (local.set $j (i32.const 0))
            (loop $odd
              (call $store (local.get $y) (local.get $dout) (i32.add (local.get $r) (local.get $j)) (local.get $o)
                (f32.add (call $dot (i32.add (local.get $x0) (i32.mul (local.get $j) (local.get $stride)))
                                    (local.get $w0) (local.get $stride))
                         (call $bias (local.get $b) (local.get $o))))
              (local.set $j (i32.add (local.get $j) (i32.const 1)))
              (br_if $odd (i32.lt_s (local.get $j) (i32.const 4))))))
        (local.set $r (i32.add (local.get $r) (i32.const 4)))
        (br $rows)))
    (block $rest_done
      (loop $rest  ;; the last n mod 4 rows, one dot product per output
        (br_if $rest_done (i32.ge_s (local.get $r) (local.get $n)))
        (local.set $x0 (i32.add (local.get $x) (i32.mul (local.get $r) (local.get $stride))))
        (local.set $o (i32.const 0))
        (block $o_done
          (loop $os
            (br_if $o_done (i32.ge_s (local.get $o) (local.get $dout)))
            (call $store (local.get $y) (local.get $dout) (local.get $r) (local.get $o)
              (f32.add (call $dot (local.get $x0) (i32.add (local.get $w) (i32.mul (local.get $o) (local.get $stride)))
                                  (local.get $stride))
                       (call $bias (local.get $b) (local.get $o))))
            (local.set $o (i32.add (local.get $o) (i32.const 1)))
            (br $os)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rest))))
)
