// The console's pages under /console/; every page but the login needs a session.
import { createRouter, createWebHistory } from 'vue-router'

import { whenUnauthenticated } from './api/client'
import type { Action } from './permissions'
import { useSession } from './stores/session'

declare module 'vue-router' {
  interface RouteMeta {
    public?: boolean
    needs?: Action
    title?: string
  }
}

export const router = createRouter({
  history: createWebHistory('/console/'),
  routes: [
    { path: '/login', name: 'login', component: () => import('./views/LoginView.vue'), meta: { public: true, title: '登录' } },
    {
      path: '/',
      component: () => import('./layouts/ConsoleLayout.vue'),
      children: [
        { path: '', name: 'queue', component: () => import('./views/QueueView.vue'), meta: { needs: 'incident.view', title: '事件队列' } },
        { path: 'incidents/:id(\\d+)', name: 'incident', component: () => import('./views/IncidentView.vue'), props: true,
          meta: { needs: 'incident.view', title: '事件详情' } },
        { path: ':unknown(.*)*', name: 'not-found', component: () => import('./views/NotFoundView.vue'), meta: { title: '页面不存在' } },
      ],
    },
  ],
})

router.beforeEach(async (to) => {
  const session = useSession()
  if (!session.loaded) await session.load()
  if (to.meta.public) return session.user && to.name === 'login' ? { path: String(to.query.redirect ?? '/') } : true
  if (!session.user) return { name: 'login', query: { redirect: to.fullPath } }
  if (to.meta.needs && !session.can(to.meta.needs)) return { name: 'not-found', params: { unknown: to.path.slice(1).split('/') } }
  return true
})

router.afterEach((to) => {
  document.title = `${to.meta.title ?? ''} · 教育专网安全运营平台`
})

// A call that finds the session gone sends the user to log in, and back here afterwards.
whenUnauthenticated(() => {
  const here = router.currentRoute.value
  useSession().forget()
  if (!here.meta.public) void router.replace({ name: 'login', query: { redirect: here.fullPath } })
})
