import js from "@eslint/js"
import prettier from "eslint-config-prettier"
import tseslint from "typescript-eslint"

export default tseslint.config(
  {
    ignores: [
      "**/node_modules/**",
      "**/dist/**",
      "**/build/**",
      "**/.sra-upgrade/**",
      "**/coverage/**",
      "e2e/doc-samples/**"
    ]
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: "readonly",
        console: "readonly",
        Buffer: "readonly",
        URL: "readonly",
        setTimeout: "readonly",
        clearTimeout: "readonly",
        setInterval: "readonly",
        clearInterval: "readonly",
        AbortController: "readonly",
        fetch: "readonly",
        TextEncoder: "readonly",
        TextDecoder: "readonly",
        performance: "readonly",
        queueMicrotask: "readonly",
        globalThis: "readonly"
      }
    },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-namespace": "off",
      "@typescript-eslint/no-empty-object-type": "off",
      "require-yield": "off",
      "no-restricted-syntax": [
        "error",
        {
          selector: "CallExpression[callee.object.name='console'][callee.property.name=/^(log|info|debug)$/]",
          message: "Libraries do not print: emit an event or return a value (the CLI, bench and scripts may print)."
        }
      ]
    }
  },
  {
    files: [
      "packages/cli/**",
      "bench/**",
      "scripts/**",
      "packages/simulator/src/bin.ts",
      "e2e/crash-matrix/main.ts",
      "e2e/crash-matrix/acceptance.ts",
      "**/test/**"
    ],
    rules: { "no-restricted-syntax": "off" }
  },
  prettier
)
