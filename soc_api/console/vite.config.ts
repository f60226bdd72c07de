import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

import vue from '@vitejs/plugin-vue'
import { defineConfig, type Plugin } from 'vite'

// Swagger UI for the API's /docs page, shipped in the build so /docs works without internet.
function swaggerUi(): Plugin {
  const require = createRequire(import.meta.url)
  const dist = dirname(require.resolve('swagger-ui-dist/package.json'))
  return {
    name: 'edusoc-swagger-ui',
    apply: 'build',
    generateBundle() {
      for (const file of ['swagger-ui-bundle.js', 'swagger-ui.css']) {
        this.emitFile({ type: 'asset', fileName: `swagger/${file}`, source: readFileSync(join(dist, file)) })
      }
    },
  }
}

export default defineConfig({
  base: '/console/',
  plugins: [vue(), swaggerUi()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 1500,
    rollupOptions: {
      output: {
        // Element Plus and ECharts change less often than the pages: separate files stay cached.
        manualChunks(id: string) {
          if (id.includes('node_modules/echarts') || id.includes('node_modules/zrender')) return 'echarts'
          if (id.includes('node_modules/element-plus') || id.includes('node_modules/@element-plus')) return 'element-plus'
          if (id.includes('node_modules/')) return 'vendor'
          return undefined
        },
      },
    },
  },
  server: {
    proxy: { '/api': 'http://127.0.0.1:8000' },
  },
})
