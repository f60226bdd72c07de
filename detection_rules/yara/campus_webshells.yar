/*
   edusoc campus YARA pack: what school web servers receive and serve most often.
   Written for edusoc (not copied from any rule set); tags name the ATT&CK technique.
*/

rule EDUSOC_PHP_OneLiner_Eval_Request : webshell T1505_003
{
    meta:
        description = "PHP one-line webshell: eval/assert of a request parameter (China Chopper / AntSword style)"
        author = "edusoc"
        score = 80
    strings:
        $php = "<?php" nocase
        $eval = /(eval|assert)\s*\(\s*(@\s*)?(\$_(POST|GET|REQUEST|COOKIE)|base64_decode\s*\(\s*\$_(POST|GET|REQUEST))/ nocase
    condition:
        $php and $eval and filesize < 200KB
}

rule EDUSOC_JSP_Runtime_Exec_Request : webshell T1505_003
{
    meta:
        description = "JSP webshell: Runtime.exec of a request parameter"
        author = "edusoc"
        score = 80
    strings:
        $exec = /Runtime\.getRuntime\(\)\.exec\(\s*request\.getParameter\(/
        $jsp = "<%" ascii
    condition:
        $jsp and $exec
}

rule EDUSOC_ASP_Eval_Request : webshell T1505_003
{
    meta:
        description = "ASP/ASPX one-line webshell: eval/execute of Request input"
        author = "edusoc"
        score = 75
    strings:
        $a = /<%@?\s*(Page\s+Language\s*=\s*"?Jscript"?)?[^>]{0,200}eval\s*\(\s*Request(\.Item)?\s*[\[(]/ nocase
        $b = /execute\s*\(?\s*request\s*\(/ nocase
    condition:
        any of them
}

rule EDUSOC_Miner_Stratum_Config : miner T1496
{
    meta:
        description = "Cryptocurrency miner configuration or loader: stratum pool URL with wallet/worker"
        author = "edusoc"
        score = 70
    strings:
        $stratum = /stratum\+(tcp|ssl|tls):\/\/[a-z0-9.\-]+:\d{2,5}/ nocase
        $k1 = "\"pass\"" ascii
        $k2 = "--donate-level" ascii
        $k3 = "xmrig" ascii nocase
        $k4 = "\"user\"" ascii
    condition:
        $stratum and any of ($k*)
}
