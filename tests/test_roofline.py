"""The roofline on a target, against hand-computed figures.

Convention (nnlint.roofline): FLOPs are the layer's inference forward FLOPs at the
deploy batch; bytes moved = weights + inputs + output at the deploy precision;
intensity = FLOPs / bytes; time = max(FLOPs / peak, bytes / bandwidth). A batchnorm
after a conv/dense folds into it and an in-place activation after a layer runs in its
kernel: their FLOPs join the layer's row and they move no bytes. On the edge
TPU, weights are cached on chip in execution order and only the overflow and the
model's inputs cross the host link.
"""

from __future__ import annotations

import pytest
from helpers import analysis_of as analysis
from helpers import roofline_mlp as mlp

from nnlint.roofline import fuse, roofline, timing, traffic
from nnlint.targets import builtin_targets

A100 = builtin_targets()["a100-40gb"]
EDGE_TPU = builtin_targets()["edge-tpu"]


def test_dense_layer_on_a100_fp32_by_hand():
    roof = analysis(mlp("fp32")).roofline
    h1 = roof.layer("h1/dense#1")
    # 784·128 MACs = 2 FLOPs each, + 128 bias adds, + the fused ReLU's 128 compares
    assert h1.flops == 2 * 784 * 128 + 128 + 128 == 200_960
    # weights (784·128 + 128) + input 784 + output 128, 4 bytes each
    assert h1.bytes_moved == (100_480 + 784 + 128) * 4 == 405_568
    assert h1.weight_bytes == 401_920
    assert h1.intensity == pytest.approx(200_960 / 405_568)
    assert round(h1.intensity, 4) == 0.4955  # AI ≈ 0.5 FLOP/byte (0.4955)
    assert h1.time_s == pytest.approx(max(200_960 / 19.5e12, 405_568 / 1555e9))
    assert h1.time_s == pytest.approx(2.608154e-07)
    assert h1.bound == "memory"


def test_activation_after_a_layer_runs_in_its_kernel():
    roof = analysis(mlp("fp32")).roofline
    assert roof.layer("h1/relu#1") is None
    assert roof.layer("h2/relu#1") is None


def test_elementwise_layer_intensity_is_one_over_2s():
    # A ReLU whose input has a second reader cannot join that layer's kernel.
    roof = analysis("""\
        model m {
            input x: [784]
            h = x -> dense(128)
            a = h -> relu
            out = add(h, a)
        }
        deploy {
            target = a100-40gb
        }
        """).roofline
    relu = roof.layer("a/relu#1")
    # Williams et al. 2009 (roofline): element-wise N ops over 2N·s bytes -> 1/(2s) = 0.125 in fp32
    assert (relu.flops, relu.bytes_moved) == (128, 1024)
    assert relu.intensity == 0.125


def test_batchnorm_after_a_conv_folds_into_it():
    roof = analysis("""\
        model m {
            input x: [3, 32, 32]
            h = x -> conv2d(16, 3, padding=1, bias=false) -> batchnorm -> relu
        }
        deploy {
            target = a100-40gb
        }
        """).roofline
    assert [r.node_id for r in roof.layers] == ["h/conv2d#1"]
    conv = roof.layers[0]
    # conv 2·(16·27·1024) + batchnorm at inference 4 per element + ReLU 1 per element
    assert conv.flops == 2 * 16 * 27 * 1024 + 4 * 16 * 1024 + 16 * 1024
    # weights 432 + the bias the folded batchnorm gives it (16), input 3·1024 and
    # output 16·1024, fp32; the batchnorm's own parameters and statistics are gone
    assert conv.bytes_moved == (432 + 16 + 3 * 1024 + 16 * 1024) * 4


def test_whole_mlp_on_a100_is_half_a_flop_per_byte_in_fp32():
    roof = analysis(mlp("fp32")).roofline
    flops = sum(r.flops for r in roof.layers)
    moved = sum(r.bytes_moved for r in roof.layers)
    assert flops == 200_832 + 128 + (2 * 128 * 64 + 64) + 64 + (2 * 64 * 10 + 10) == 218_762
    assert moved == 405_568 + 33_792 + 2_896 == 442_256  # the ReLUs run fused
    assert flops / moved == pytest.approx(0.4946, abs=1e-4)  # ≈0.5 (0.4955 over 441,488 B)
    # fp32 on the A100 is its 19.5 TFLOP/s CUDA-core rate: ridge 12.54, not 200.6
    assert roof.peak == 19.5e12
    assert roof.ridge_point == pytest.approx(19.5e12 / 1555e9)
    assert round(roof.ridge_point, 2) == 12.54
    assert all(r.bound == "memory" for r in roof.layers)
    kernels = sum(max(r.flops / 19.5e12, r.bytes_moved / 1555e9) for r in roof.layers)
    # three kernels (dense + fused ReLU, twice, then dense), 0.9 µs of launch each
    assert len(roof.layers) == 3 and roof.overhead_s == pytest.approx(3 * 0.9e-6)
    assert roof.time_s == pytest.approx(kernels + 3 * 0.9e-6)


def test_fp16_halves_the_bytes_and_uses_the_tensor_core_ridge():
    roof = analysis(mlp("fp16")).roofline
    assert roof.peak == 312e12
    assert roof.ridge_point == pytest.approx(312e12 / 1555e9)
    assert round(roof.ridge_point, 1) == 200.6
    h1 = roof.layer("h1/dense#1")
    assert h1.bytes_moved == 405_568 // 2 == 202_784
    assert round(h1.intensity, 2) == 0.99


def test_large_batch_dense_is_compute_bound():
    roof = analysis("""\
        model wide {
            input x: [4096]
            y = x -> dense(4096)
        }
        deploy {
            target    = a100-40gb
            batch     = 1024
            precision = fp16
        }
        """).roofline
    y = roof.layer("y/dense#1")
    assert y.flops == 2 * 4096 * 4096 * 1024 + 4096 * 1024 == 34_363_932_672
    # weights (4096² + 4096)·2 + input and output 1024·4096·2 each
    assert y.bytes_moved == (4096 * 4096 + 4096) * 2 + 2 * 1024 * 4096 * 2 == 50_339_840
    assert y.intensity == pytest.approx(682.6, abs=0.1)
    assert y.bound == "compute"
    assert y.time_s == pytest.approx(34_363_932_672 / 312e12)


def test_views_move_nothing_and_are_not_rows():
    roof = analysis("""\
        model m {
            input img: [1, 28, 28]
            logits = img -> flatten -> dense(10)
        }
        deploy {
            target    = a100-40gb
            precision = fp32
        }
        """).roofline
    assert [r.node_id for r in roof.layers] == ["logits/dense#1"]


def test_no_peak_at_the_precision_means_no_time():
    roof = analysis(mlp("fp32", target="edge-tpu")).roofline
    assert roof.peak is None and roof.ridge_point is None and roof.time_s is None
    assert all(r.bound is None and r.time_s is None for r in roof.layers)


EDGE_SPEC = """\
    model two_wide {
        input x: [2048]
        h = x -> dense(4096)
        y = h -> dense(4096)
    }
    deploy {
        target    = edge-tpu
        batch     = 1
        precision = int8
    }
    """


def test_edge_tpu_caches_weights_in_execution_order_and_streams_the_rest():
    roof = analysis(EDGE_SPEC).roofline
    first, second = roof.layer("h/dense#1"), roof.layer("y/dense#1")
    assert EDGE_TPU.onchip_bytes == 7_990_149  # 7.62 MiB, the compiler's log
    # first layer: 2048·4096 + 4096 int8 weights, the cache takes 7,990,149 of them
    assert first.weight_bytes == 8_392_704
    assert first.streamed_weight_bytes == 8_392_704 - 7_990_149 == 402_555
    assert first.bytes_moved == 402_555 + 2048  # the overflow + the model input from the host
    # second layer: nothing left on chip; its input is the first layer's on-chip output,
    # its 4096 int8 outputs are the model's and go back to the host
    assert second.weight_bytes == second.streamed_weight_bytes == 16_781_312
    assert second.bytes_moved == 16_781_312 + 4096
    assert roof.param_bytes == 8_392_704 + 16_781_312 == 25_174_016
    assert roof.onchip_param_bytes == 7_990_149
    assert roof.streamed_param_bytes == 402_555 + 16_781_312 == 17_183_867
    assert roof.bandwidth == 500e6 and roof.peak == 4e12
    assert roof.ridge_point == 8000
    assert first.time_s == pytest.approx(404_603 / 500e6)
    assert second.intensity == pytest.approx((2 * 4096 * 4096 + 4096) / (16_781_312 + 4096))
    assert second.bound == "memory"


def test_edge_tpu_weights_that_fit_stay_on_chip():
    roof = analysis(mlp("int8", target="edge-tpu")).roofline
    assert roof.streamed_param_bytes == 0
    assert roof.onchip_param_bytes == roof.param_bytes == 109_386
    h1, h2 = roof.layer("h1/dense#1"), roof.layer("h2/dense#1")
    assert h1.bytes_moved == 784  # only the image crosses the host link
    assert h2.bytes_moved == 0 and h2.intensity is None
    assert h2.bound == "compute" and h2.time_s == pytest.approx(h2.flops / 4e12)


def test_edge_tpu_model_input_read_through_a_view_still_crosses_the_host_link():
    # Regression: the input reached the dense layer through `flatten`, so it was not
    # recognised as a model input and its 784 bytes were dropped.
    roof = analysis("""\
        model m {
            input img: [1, 28, 28]
            logits = img -> flatten -> dense(10)
        }
        deploy {
            target    = edge-tpu
            precision = int8
        }
        """).roofline
    dense = roof.layer("logits/dense#1")
    assert dense.bytes_moved == 784 + 10  # the image in, the 10 logits back to the host
    assert dense.time_s == pytest.approx(794 / 500e6)


def test_edge_tpu_model_input_read_twice_crosses_once():
    roof = analysis("""\
        model m {
            input x: [256]
            a = x -> dense(16)
            b = x -> dense(16)
            out = add(a, b)
        }
        deploy {
            target    = edge-tpu
            precision = int8
        }
        """).roofline
    assert roof.layer("a/dense#1").bytes_moved == 256
    assert roof.layer("b/dense#1").bytes_moved == 0
    assert roof.layer("out/add#1").bytes_moved == 16


def test_roofline_function_matches_the_driver():
    result = analysis(mlp("fp16"))
    assert roofline(result.report, A100) == result.roofline


def test_the_three_steps_hand_plain_data_to_each_other():
    """fuse -> traffic -> timing: which nodes run as one kernel, the bytes each kernel
    moves, then its time; the driver's roofline is their composition."""
    result = analysis(mlp("fp32"))
    fusion = fuse(result.report)
    assert [k.node_id for k in fusion.kernels] == ["h1/dense#1", "h2/dense#1", "logits/dense#1"]
    assert fusion.kernels[0].nodes == ("h1/dense#1", "h1/relu#1")
    assert fusion.host == {"h1/relu#1": "h1/dense#1", "h2/relu#1": "h2/dense#1"}
    assert fusion.kernels[0].flops == 200_960  # the dense layer's and its ReLU's
    moved = traffic(result.report, fusion, A100)
    assert [k.kernel for k in moved.kernels] == list(fusion.kernels)
    assert moved.kernels[0].bytes_moved == 405_568
    assert moved.param_bytes == sum(k.weight_bytes for k in moved.kernels)
    assert moved.param_bytes == (100_480 + 8_256 + 650) * 4
    assert moved.streamed_param_bytes == moved.onchip_param_bytes == 0  # no on-chip memory
    roof = timing(moved, A100, "fp32")
    assert roof == result.roofline
    # the same traffic at fp16's tensor-core peak: only the compute side changes
    fp16 = timing(moved, A100, "fp16")
    assert [r.bytes_moved for r in fp16.layers] == [r.bytes_moved for r in roof.layers]
    assert fp16.ridge_point == A100.peak_for("fp16") / A100.bandwidth


def test_model_wide_figures_are_read_from_the_rows():
    roof = analysis(mlp("fp32")).roofline
    assert roof.flops == sum(r.flops for r in roof.layers)
    assert roof.bytes_moved == sum(r.bytes_moved for r in roof.layers)
    assert roof.intensity == roof.flops / roof.bytes_moved
    memory_bound = sum(r.time_s for r in roof.layers if r.bound == "memory")
    assert roof.memory_bound_share == memory_bound / roof.kernel_time_s == 1.0
    edge = analysis(mlp("int8", target="edge-tpu")).roofline
    assert edge.host_link_bandwidth == EDGE_TPU.host_link_bandwidth
    assert edge.stream_time_s == 0  # the MLP's weights fit on chip


LAYOUT = """\
    model m {{
        input img: [32, 32, 3]
        x = img -> {view}
        logits = x -> flatten -> dense(10)
    }}
    deploy {{
        target    = {target}
        batch     = 2
        precision = fp16
    }}
    """


def test_a_layout_change_that_reorders_memory_is_a_copy_kernel():
    """permute/transpose are views in eager PyTorch, but an inference runtime copies the
    tensor into its new order (ONNX Transpose): a kernel that reads and writes every
    element, at no FLOPs."""
    roof = analysis(LAYOUT.format(view="permute(2, 0, 1)", target="a100-40gb")).roofline
    assert [r.node_id for r in roof.layers] == ["x/permute#1", "logits/dense#1"]
    copy = roof.layer("x/permute#1")
    tensor = 2 * 32 * 32 * 3 * 2  # batch 2, fp16
    assert (copy.flops, copy.bytes_moved, copy.weight_bytes) == (0, 2 * tensor, 0)
    assert copy.bound == "memory" and copy.intensity == 0
    assert copy.time_s == pytest.approx(2 * tensor / A100.bandwidth)
    # the dense layer reads the permuted copy as it read the input before
    assert roof.layer("logits/dense#1").bytes_moved == tensor + 2 * (3072 * 10 + 10) + 2 * 2 * 10


@pytest.mark.parametrize(
    "view",
    [
        "transpose(0, 0)",  # nothing moves
        "reshape(32, 32, 3, 1) -> transpose(2, 3) -> reshape(32, 32, 3)",  # a size-1 axis moves
        "reshape(1, 3072) -> permute(1, 0)",  # [1, N] -> [N, 1]: the same memory order
    ],
)
def test_a_layout_change_that_keeps_the_memory_order_stays_a_free_view(view):
    roof = analysis(LAYOUT.format(view=view, target="a100-40gb")).roofline
    assert [r.node_id for r in roof.layers] == ["logits/dense#1"]


def test_a_layout_copy_on_chip_moves_nothing_and_the_input_still_arrives_once():
    roof = analysis(
        LAYOUT.format(view="transpose(0, 2)", target="edge-tpu").replace("fp16", "int8")
    ).roofline
    assert roof.layer("x/transpose#1").bytes_moved == 0  # reordered in on-chip memory
    assert roof.layer("logits/dense#1").bytes_moved == 2 * 3072 + 2 * 10  # input in, logits out
