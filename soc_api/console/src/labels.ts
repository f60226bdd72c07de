// Words shown for the API's codes: never an internal identifier on screen.
export const GRADE_LABELS: Record<string, string> = { I: '特别重大', II: '重大', III: '较大', IV: '一般' }
export const GRADE_TAG: Record<string, 'danger' | 'warning' | 'primary' | 'info'> = { I: 'danger', II: 'danger', III: 'warning', IV: 'info' }

export const STATUS_LABELS: Record<string, string> = {
  new: '待确认', acknowledged: '已确认', investigating: '调查中', contained: '已遏制', resolved: '已处置', closed: '已关闭', merged: '已合并',
}
export const OPEN_STATUSES = ['new', 'acknowledged', 'investigating', 'contained']

export const SOURCE_LABELS: Record<string, string> = { detected: '监测发现', notice: '上级通报', self_reported: '自主上报' }

/** 特别重大 and 重大: the grades that ring and notify. */
export function isMajor(grade: string | undefined): boolean {
  return grade === 'I' || grade === 'II'
}
