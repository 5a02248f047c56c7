{
  "targets": [
    {
      "target_name": "trainyard_native",
      "sources": ["src/trainyard_native.cc", "src/softmax_rows.cc", "src/batch_norm.cc", "src/attention.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "/usr/include/x86_64-linux-gnu"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-O3", "-march=x86-64-v2", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=off", "-std=c++17"],
      "libraries": ["-lopenblas"]
    }
  ]
}
