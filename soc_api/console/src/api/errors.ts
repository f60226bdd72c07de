// Server errors as a duty officer reads them: Chinese first, never an English server message alone.

export interface ShownError {
  zh: string
  en?: string
}

const BY_STATUS: Record<number, string> = {
  400: '请求有误，请检查输入',
  401: '登录已失效，请重新登录',
  403: '您没有执行此操作的权限',
  404: '未找到，或不在您的管辖范围内',
  409: '数据已被他人修改，请刷新后重试',
  413: '文件过大',
  422: '输入有误，请检查标记的字段',
  423: '账号已被锁定，请稍后再试或联系系统管理员',
  429: '操作过于频繁，请稍后再试',
}

interface ValidationItem {
  loc?: (string | number)[]
  msg?: string
}

function fieldOf(item: ValidationItem): string {
  const path = (item.loc ?? []).filter((part) => part !== 'body' && part !== 'query' && part !== 'path')
  return path.join('.')
}

/** The message to show for a failed call: the server's Chinese text when it sends one, else one by status code. */
export function describeError(status: number, body: unknown): ShownError {
  const generic = status === 0 ? '无法连接服务器，请检查网络' : BY_STATUS[status] ?? (status >= 500 ? '服务器内部错误，请稍后重试或联系系统管理员' : `请求失败（${status}）`)
  if (body && typeof body === 'object') {
    const record = body as Record<string, unknown>
    const nested = record.detail && typeof record.detail === 'object' && !Array.isArray(record.detail) ? (record.detail as Record<string, unknown>) : null
    const zh = record.message_zh ?? nested?.message_zh
    const en = record.message ?? nested?.message
    if (typeof zh === 'string' && zh) {
      return { zh, en: typeof en === 'string' ? en : undefined }
    }
    if (Array.isArray(record.detail)) {
      const items = record.detail as ValidationItem[]
      const fields = items.map(fieldOf).filter(Boolean)
      return { zh: fields.length ? `${generic}：${fields.join('、')}` : generic, en: items.map((i) => i.msg).filter(Boolean).join('; ') }
    }
    if (typeof record.detail === 'string') {
      return { zh: generic, en: record.detail }
    }
  }
  return { zh: generic }
}

/** One line for a message box: Chinese, then the English original in brackets when there is one. */
export function errorText(error: ShownError): string {
  return error.en ? `${error.zh}（${error.en}）` : error.zh
}
