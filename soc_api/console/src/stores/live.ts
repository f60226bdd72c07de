// The server's live stream (GET /api/v1/stream, Server-Sent Events with the session cookie):
// pages subscribe to the event kinds they show; 重大 and above ring and notify when the user opted in.
import { defineStore } from 'pinia'
import { ref } from 'vue'

import { GRADE_LABELS, isMajor } from '../labels'

export const LIVE_KINDS = ['incident.created', 'incident.updated', 'incident.escalated', 'deadline.warning', 'notice', 'sensor.health'] as const
export type LiveKind = (typeof LIVE_KINDS)[number]

export interface LiveIncident {
  id: number
  title: string
  grade: string
  status: string
  unit_name: string
}

export interface LiveMessage {
  kind: LiveKind
  action: string
  at: string
  incident?: LiveIncident
  percent?: number | null
  reason?: string
}

type Listener = (message: LiveMessage) => void

const SOUND_KEY = 'edusoc.alerts.sound'
const DESKTOP_KEY = 'edusoc.alerts.desktop'

export const useLive = defineStore('live', () => {
  const connected = ref(false)
  const sound = ref(localStorage.getItem(SOUND_KEY) === '1')
  const desktop = ref(localStorage.getItem(DESKTOP_KEY) === '1' && 'Notification' in window && Notification.permission === 'granted')
  const listeners = new Set<Listener>()
  let source: EventSource | null = null

  function connect(): void {
    if (source) return
    source = new EventSource('/api/v1/stream', { withCredentials: true })
    source.onopen = () => { connected.value = true }
    source.onerror = () => { connected.value = false } // EventSource reconnects by itself
    for (const kind of LIVE_KINDS) {
      source.addEventListener(kind, (event) => deliver(kind, (event as MessageEvent<string>).data))
    }
    source.addEventListener('dropped', () => { disconnect(); connect() })
  }

  function disconnect(): void {
    source?.close()
    source = null
    connected.value = false
  }

  function deliver(kind: LiveKind, raw: string): void {
    let message: LiveMessage
    try {
      message = { ...(JSON.parse(raw) as Omit<LiveMessage, 'kind'>), kind }
    } catch {
      return
    }
    for (const listener of listeners) listener(message)
    const alarming = kind === 'incident.created' || kind === 'incident.escalated'
    if (alarming && message.incident && isMajor(message.incident.grade)) alarm(message.incident, kind)
  }

  function alarm(incident: LiveIncident, kind: LiveKind): void {
    const what = kind === 'incident.created' ? '新增' : '升级'
    if (sound.value) beep()
    if (desktop.value && 'Notification' in window && Notification.permission === 'granted') {
      new Notification(`${GRADE_LABELS[incident.grade] ?? ''}事件${what}`, { body: `${incident.unit_name}：${incident.title}`, tag: `incident-${incident.id}` })
    }
  }

  function beep(): void {
    const context = new AudioContext()
    const tone = context.createOscillator()
    const gain = context.createGain()
    tone.frequency.value = 880
    gain.gain.setValueAtTime(0.2, context.currentTime)
    gain.gain.exponentialRampToValueAtTime(0.001, context.currentTime + 0.8)
    tone.connect(gain).connect(context.destination)
    tone.start()
    tone.stop(context.currentTime + 0.8)
    tone.onended = () => void context.close()
  }

  function onMessage(listener: Listener): () => void {
    listeners.add(listener)
    return () => listeners.delete(listener)
  }

  function setSound(on: boolean): void {
    sound.value = on
    localStorage.setItem(SOUND_KEY, on ? '1' : '0')
    if (on) beep()
  }

  async function setDesktop(on: boolean): Promise<void> {
    if (on && 'Notification' in window && Notification.permission !== 'granted') {
      on = (await Notification.requestPermission()) === 'granted'
    }
    desktop.value = on
    localStorage.setItem(DESKTOP_KEY, on ? '1' : '0')
  }

  return { connected, sound, desktop, connect, disconnect, onMessage, setSound, setDesktop }
})
